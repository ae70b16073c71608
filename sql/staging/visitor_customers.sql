-- materialized: view
-- Web visitors (client ids) with the customer they belong to: the visitor identifiers of the identity
-- graph. A visitor seen with too many customers (a shared device) is not among them, so its touches
-- count for no one.
select identifier_value as visitor_id, customer_key
from staging.customer_identifiers
where identifier_kind = 'visitor'
