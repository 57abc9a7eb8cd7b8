-- gdpr_export / gdpr_export_rows: access and portability.
\i test/fixtures/crm.sql
SELECT gdpr_load_policy_defaults() AS defaults_loaded;
SELECT gdpr_load_policy_defaults() AS loaded_again;

-- section: the document: every table with the subject's rows, decrypted
-- (timestamps and dates relative to today are masked)
SELECT regexp_replace(jsonb_pretty(gdpr_export('user', '2') -> 'data'),
                      '"\d{4}-\d\d-\d\d[^"]*"', '"<date>"', 'g') AS data;
SELECT jsonb_object_keys(gdpr_export('user', '2')) AS part ORDER BY 1;
SELECT gdpr_export('user', '2') -> 'categories' AS categories;
SELECT p ->> 'purpose' AS purpose, p ->> 'lawful_basis' AS lawful_basis
  FROM jsonb_array_elements(gdpr_export('user', '2') -> 'purposes') p;
SELECT jsonb_array_length(gdpr_export('user', '2') -> 'recipients') AS recipients;
SELECT jsonb_pretty(gdpr_export('user', '2') -> 'retention');
SELECT jsonb_pretty(gdpr_export('user', '2') -> 'legal_holds');

-- section: contacts a user manages are listed without the contacts' personal fields
SELECT gdpr_export('user', '1') -> 'data' -> 'crm.contacts' AS managed_contacts;

-- section: one row per line, for a download
SELECT table_name, row_data FROM gdpr_export_rows('contact', '10') ORDER BY 1, 2::text;

-- section: unknown id: an empty export
SELECT count(*) AS tables_with_rows FROM jsonb_each(gdpr_export('user', '424242') -> 'data') d
 WHERE jsonb_array_length(d.value) > 0;

-- section: bad input
SELECT * FROM test.full_error_of($$SELECT gdpr_export('lead', '1')$$);
SELECT test.error_of($$SELECT gdpr_export('user', NULL)$$);
SELECT test.error_of($$SELECT gdpr_export('user', 'abc')$$);

-- section: rectification (Art. 16), encrypted columns stay encrypted
SELECT gdpr_rectify('user', '2', 'crm.users', 'full_name', 'Alan M. Turing') AS rows;
SELECT gdpr_rectify('user', '2', 'crm.users', 'email', 'alan@bletchley.example') AS rows;
SELECT full_name, gdpr_decrypt(email, 'crm.users.email') AS email FROM crm.users WHERE user_id = 2;
SELECT test.error_of($$SELECT gdpr_rectify('user', '2', 'crm.accounts', 'name', 'x')$$);
SELECT test.error_of($$SELECT gdpr_rectify('user', '2', 'crm.users', 'nope', 'x')$$);
SELECT test.error_of($$SELECT gdpr_rectify('user', '2', 'crm.users', 'created_at', 'yesterday-ish')$$);

-- section: exports and rectifications are audited, without the data
SELECT action, kind, details FROM gdpr.audit_log
 WHERE action IN ('export', 'rectify') ORDER BY audit_id DESC LIMIT 3;

SELECT test.reset_crm();
