-- The C++/PostgreSQL error boundary (gdpr._boundary_selftest).
\x on

-- section: a C++ exception thrown three frames deep is a clean SQL error
SELECT * FROM test.full_error_of($$SELECT gdpr._boundary_selftest('cpp')$$);

-- section: a PostgreSQL error raised below C++ frames keeps its SQLSTATE
SELECT * FROM test.full_error_of($$SELECT gdpr._boundary_selftest('pg')$$);

-- section: exceptions that are not pg_gdpr's own are internal errors, not crashes
SELECT * FROM test.full_error_of($$SELECT gdpr._boundary_selftest('std')$$);
SELECT * FROM test.full_error_of($$SELECT gdpr._boundary_selftest('unknown')$$);
SELECT * FROM test.full_error_of($$SELECT gdpr._boundary_selftest(NULL)$$);
\x off

-- section: every C++ object on the way was destroyed: four frames for the
-- C++ throw, one for the PostgreSQL error
SELECT gdpr._boundary_selftest('destructors');

-- section: the backend is still usable, in and out of transactions
SELECT 1 AS still_alive;
BEGIN;
SELECT test.error_of($$SELECT gdpr._boundary_selftest('cpp')$$);
SELECT 2 AS still_in_transaction;
COMMIT;
SELECT gdpr._boundary_selftest('cpp');
SELECT 3 AS after_uncaught_error;
