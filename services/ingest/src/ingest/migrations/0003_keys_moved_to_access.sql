-- API keys moved to the shared access schema (msp_access, one table every service
-- verifies against). Keys of this table are not carried over: the access table adds
-- roles and customer scopes the old keys never had; re-create them with
-- `mspctl keys create` (docs/operations.md).
DROP TABLE api_keys;
