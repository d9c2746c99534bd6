
-------------------------------------------------------------------------------------------------
-- Clear errors at the edges.  Every writer of stock_levels adds through level_add, which refuses
-- a sum that would leave numeric(18,4) naming the product and location (PostgreSQL alone says
-- "numeric field overflow", and a level that cannot grow would fail every later movement there).
-------------------------------------------------------------------------------------------------
CREATE FUNCTION easeinv.level_add(level numeric, delta numeric, counterpart numeric,
                                  product_id bigint, location_id bigint)
RETURNS numeric
    AS 'MODULE_PATHNAME', 'level_add'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION easeinv.level_add(numeric, numeric, numeric, bigint, bigint) IS
    'a stock level (on_hand or reserved) plus a change; 22003 naming the product and location when it or available (against counterpart, the other level) would leave numeric(18,4)';
