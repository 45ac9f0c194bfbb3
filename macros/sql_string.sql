{#- sql_string(value): ``value`` as one SQL string literal of the target engine, quotes (and on
    Spark backslashes) escaped. Every string from a var, the environment or the data that reaches
    SQL in this project goes through it (or is a bound parameter in Python). -#}
{% macro sql_string(value) -%}
    {{ return(adapter.dispatch('sql_string', 'semspace')(value)) }}
{%- endmacro %}

{% macro default__sql_string(value) -%}
    {{ return("'" ~ (value | string | replace("'", "''")) ~ "'") }}
{%- endmacro %}

{% macro spark__sql_string(value) -%}
    {{ return("'" ~ (value | string | replace('\\', '\\\\') | replace("'", "\\'")) ~ "'") }}
{%- endmacro %}
