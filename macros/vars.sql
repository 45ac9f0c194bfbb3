{#- Checked vars: a var that reaches SQL as a number or a switch is validated here, so a typo or a
    crafted value (`--vars '{neighbors_k: "3; drop table x"}'`) stops the compile with one line
    naming the var, instead of becoming SQL or silently another value. -#}

{#- int_var(name, default, minimum): the var as an int >= minimum (an int, or a string of digits). -#}
{% macro int_var(name, default, minimum=0) -%}
    {%- set value = var(name, default) -%}
    {%- set text = value | string | trim -%}
    {%- if value is boolean or not (value is number or text.isdigit()) or (value is number and value != (value | int)) -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ " must be a whole number >= " ~ minimum ~ ", not " ~ (value | tojson)) }}
    {%- endif -%}
    {%- if (text | int) < minimum -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ " must be >= " ~ minimum ~ ", not " ~ text) }}
    {%- endif -%}
    {{ return(text | int) }}
{%- endmacro %}

{#- bool_var(name, default): true/false (YAML booleans, or the strings true/false/1/0/yes/no). -#}
{% macro bool_var(name, default) -%}
    {%- set value = var(name, default) -%}
    {%- if value is boolean -%}{{ return(value) }}{%- endif -%}
    {%- set text = value | string | trim | lower -%}
    {%- if text in ['true', '1', 'yes', 'on'] -%}{{ return(true) }}{%- endif -%}
    {%- if text in ['false', '0', 'no', 'off', ''] -%}{{ return(false) }}{%- endif -%}
    {{ exceptions.raise_compiler_error("var " ~ name ~ " must be true or false, not " ~ (value | tojson)) }}
{%- endmacro %}
