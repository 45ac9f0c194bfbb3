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


{#- float_var(name, default, minimum): the var as a finite number >= minimum (a number, or a
    string of a decimal number such as 0.25 or 1e-3). -#}
{% macro float_var(name, default, minimum=0) -%}
    {%- set value = var(name, default) -%}
    {%- set text = value | string | trim -%}
    {%- set decimal = modules.re.fullmatch('[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]{1,3})?', text) -%}
    {%- if value is boolean or decimal is none or (text | float) != (text | float) or (text | float) > 1e300 -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ " must be a number >= " ~ minimum ~ ", not " ~ (value | tojson)) }}
    {%- endif -%}
    {%- if (text | float) < minimum -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ " must be >= " ~ minimum ~ ", not " ~ text) }}
    {%- endif -%}
    {{ return(text | float) }}
{%- endmacro %}


{#- choice_list_var(name, default, allowed): the var as a non-empty list of distinct names, each
    one of `allowed` (a YAML list, or one name, or a comma-separated string). -#}
{% macro choice_list_var(name, default, allowed) -%}
    {%- set value = var(name, default) -%}
    {%- if value is string -%}
        {%- set value = value.split(',') -%}
    {%- endif -%}
    {%- if value is mapping or value is not iterable -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ " must be a list of " ~ (allowed | join(', ')) ~ ", not " ~ (value | tojson)) }}
    {%- endif -%}
    {%- set chosen = [] -%}
    {%- for item in value -%}
        {%- set item = item | string | trim -%}
        {%- if item not in allowed -%}
            {{ exceptions.raise_compiler_error("var " ~ name ~ ": " ~ (item | tojson) ~ " is not one of " ~ (allowed | join(', '))) }}
        {%- endif -%}
        {%- if item not in chosen -%}{%- do chosen.append(item) -%}{%- endif -%}
    {%- endfor -%}
    {%- if not chosen -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ " must name at least one of " ~ (allowed | join(', '))) }}
    {%- endif -%}
    {{ return(chosen) }}
{%- endmacro %}


{#- The largest corpus (in images) whose every pair is stored (int_pair_overlaps, image_pairs);
    larger corpora get image_neighbors and pair_summary from the exact kernel instead
    (int_corpus_scale). -#}
{% macro all_pairs_max_images() -%}
    {{ return(int_var('all_pairs_max_images', 10000, 0)) }}
{%- endmacro %}

{#- Where the top-k lists and pair statistics of corpora above all_pairs_max_images come from:
    'compiled' (the numba kernel in dbt Python models, DuckDB only) or 'sql' (the pair kernel
    inline, never stored: the cross-check, and the only way on Spark). -#}
{% macro large_corpus_kernel() -%}
    {%- set value = var('large_corpus_kernel', 'compiled') | string | trim -%}
    {%- if value not in ['compiled', 'sql'] -%}
        {{ exceptions.raise_compiler_error("var large_corpus_kernel must be compiled or sql, not " ~ (value | tojson)) }}
    {%- endif -%}
    {{ return('sql' if target.type != 'duckdb' else value) }}
{%- endmacro %}
