{#- ordered_string_agg(expression, delimiter, order_by): an aggregate joining the group's strings
    with the delimiter (a SQL string literal) in the order of `order_by` (an expression).
    dbt's listagg ignores the order on Spark, hence this. -#}
{% macro ordered_string_agg(expression, delimiter, order_by) -%}
    {{ return(adapter.dispatch('ordered_string_agg', 'semspace')(expression, delimiter, order_by)) }}
{%- endmacro %}

{% macro default__ordered_string_agg(expression, delimiter, order_by) -%}
    string_agg({{ expression }}, {{ delimiter }} order by {{ order_by }})
{%- endmacro %}

{#- Spark: collect (key, value) structs, sort them (structs sort by their first field), keep the values. -#}
{% macro spark__ordered_string_agg(expression, delimiter, order_by) -%}
    array_join(transform(array_sort(collect_list(named_struct('k', {{ order_by }}, 'v', {{ expression }}))), x -> x.v), {{ delimiter }})
{%- endmacro %}
