{#- A source table, or an empty relation with the given columns where the table does not exist
    yet: the association tables appear only once `python -m generate` has run, and a warehouse
    of captions alone must still build. columns: a list of [name, type] pairs; `varchar` is
    written as the engine's string type (dbt.type_string(): Spark has no varchar without a length). -#}
{% macro source_or_empty(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- set found = none -%}
    {%- if execute -%}
        {%- set found = adapter.get_relation(database=relation.database, schema=relation.schema,
                                             identifier=relation.identifier) -%}
    {%- endif -%}
    {%- if found is not none or not execute -%}
        {{ relation }}
    {%- else -%}
        (select
        {%- for column in columns %}
            {%- set type = dbt.type_string() if column[1] | lower == 'varchar' else column[1] %}
            cast(null as {{ type }}) as {{ column[0] }}{{ "," if not loop.last }}
        {%- endfor %}
        where 1 = 0)
    {%- endif -%}
{%- endmacro %}
