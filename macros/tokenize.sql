{#-
  Karpathy's COCO tokenization as an array expression: lowercase, delete the characters ' / : . & =,
  split on every other run of non-alphanumerics. The array may hold empty strings (leading or
  trailing separators): models unnest it and keep `token <> ''`, which is portable where list
  lambdas are not.
-#}
{% macro karpathy_tokens(text) -%}
    {{ return(adapter.dispatch('karpathy_tokens', 'semspace')(text)) }}
{%- endmacro %}

{% macro default__karpathy_tokens(text) -%}
    regexp_split_to_array(regexp_replace(lower({{ text }}), '[''/:.&=]', '', 'g'), '[^a-z0-9]+')
{%- endmacro %}

{% macro spark__karpathy_tokens(text) -%}
    split(regexp_replace(lower({{ text }}), "['/:.&=]", ''), '[^a-z0-9]+')
{%- endmacro %}


{#- One row per element of an array column, in a select list. -#}
{% macro unnest_array(expression) -%}
    {{ return(adapter.dispatch('unnest_array', 'semspace')(expression)) }}
{%- endmacro %}

{% macro default__unnest_array(expression) -%}
    unnest({{ expression }})
{%- endmacro %}

{% macro spark__unnest_array(expression) -%}
    explode({{ expression }})
{%- endmacro %}
