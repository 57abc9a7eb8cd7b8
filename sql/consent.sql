-- Purposes, consent, restriction and objection (issue 10).
\i test/fixtures/crm.sql
SELECT gdpr_load_policy_defaults() > 0 AS defaults_loaded;
SELECT coalesce(max(audit_id), 0) AS audit_start FROM gdpr.audit_log \gset

-- section: the policy's purposes, with their basis and kinds of processing
SELECT purpose, lawful_basis, categories, processing, may_write FROM gdpr.purpose ORDER BY purpose;

-- section: gdpr_define_purpose
SELECT gdpr_define_purpose('health_coaching', 'consent', '{personal,sensitive}',
                           'Coaching based on health data the person provides', '{service}');
SELECT purpose, lawful_basis, categories, processing FROM gdpr.purpose WHERE purpose = 'health_coaching';

-- section: forbidden processing cannot be declared under any name
SELECT test.error_of($$SELECT gdpr_define_purpose('partner_revenue', 'legitimate_interests', '{personal}', 'Revenue from partners', '{sale}')$$);
SELECT test.error_of($$SELECT gdpr_define_purpose('audience_insights', 'consent', '{usage}', 'Audience insights', '{analytics,behavioural_advertising}')$$);
SELECT test.error_of($$SELECT gdpr_define_purpose('growth', 'consent', '{personal}', 'Growth', '{advertising_network_sharing}')$$);
SELECT test.error_of($$SELECT gdpr_define_purpose('enrichment', 'legitimate_interests', '{personal}', 'Enrichment', '{data_broker_sharing}')$$);
SELECT test.error_of($$SELECT gdpr_define_purpose('outreach', 'consent', '{personal}', 'Outreach', '{marketing_platform_sharing}')$$);
-- a harmless kind, but words that say what it is
SELECT test.error_of($$SELECT gdpr_define_purpose('partner_program', 'consent', '{personal}', 'We sell contact lists to partners', '{internal}')$$);
SELECT test.error_of($$SELECT gdpr_define_purpose('data_sale', 'consent', '{personal}', 'Partners', '{internal}')$$);
-- a kind pg_gdpr does not know is not a way around it
SELECT test.error_of($$SELECT gdpr_define_purpose('ad_targeting', 'consent', '{personal}', 'Targeting', '{ad_targeting}')$$);
-- nor a direct INSERT or UPDATE by the DPO
SELECT test.error_of($$INSERT INTO gdpr.purpose (purpose, lawful_basis, description, categories, processing) VALUES ('x', 'consent', 'x', '{personal}', '{sale}')$$);
SELECT test.error_of($$UPDATE gdpr.purpose SET processing = processing || '{behavioural_advertising}' WHERE purpose = 'direct_marketing'$$);
SELECT test.error_of($$UPDATE gdpr.processing_kind SET forbidden = false WHERE processing = 'sale'$$);
SELECT test.error_of($$DELETE FROM gdpr.processing_kind WHERE processing = 'sale'$$);
-- nor a purpose that declares no processing
SELECT test.error_of($$INSERT INTO gdpr.purpose (purpose, lawful_basis, description, categories, processing) VALUES ('x', 'consent', 'x', '{personal}', '{}')$$);
SELECT count(*) AS forbidden_purposes FROM gdpr.purpose p
 WHERE EXISTS (SELECT 1 FROM gdpr.processing_kind k WHERE k.forbidden AND k.processing = ANY (p.processing));

-- section: bad input of gdpr_define_purpose: nothing is stored
SELECT test.error_of($$SELECT gdpr_define_purpose(NULL, 'consent', '{personal}', 'x')$$);
SELECT test.error_of($$SELECT gdpr_define_purpose('x', 'because', '{personal}', 'x')$$);
SELECT test.error_of($$SELECT gdpr_define_purpose('x', 'consent', '{biometrics}', 'x')$$);
SELECT test.error_of($$SELECT gdpr_define_purpose('x', 'consent', '{}', 'x')$$);
SELECT test.error_of($$SELECT gdpr_define_purpose('x', 'consent', '{personal}', ' ')$$);
SELECT test.error_of($$SELECT gdpr_define_purpose('Bad Name', 'consent', '{personal}', 'x')$$);
SELECT test.error_of($$SELECT gdpr_define_purpose('newsletter', 'legitimate_interests', '{personal}', 'x', '{direct_marketing}')$$);
SELECT test.error_of($$SELECT gdpr_define_purpose('wellness', 'contract', '{sensitive}', 'x')$$);
SELECT count(*) AS stray_purposes FROM gdpr.purpose WHERE purpose IN ('x', 'newsletter', 'wellness', 'Bad Name');

-- section: consent: a history, and the current state
SELECT gdpr_set_consent('user', '2', 'direct_marketing', true, 'web_form') > 0 AS recorded;
SELECT * FROM gdpr_choices('user', '2') WHERE purpose IN ('direct_marketing', 'analytics_cookies', 'service_delivery');
SELECT gdpr_set_consent('user', '02', 'direct_marketing', false, 'gpc') > 0 AS withdrawn;
SELECT gdpr_set_consent('user', '2', 'analytics_cookies', true, 'cookie_banner') > 0 AS recorded;
SELECT kind, subject_id, action, purpose, source, recorded_by FROM gdpr.choice ORDER BY choice_id;
SELECT kind, purpose, subject_id, allowed FROM gdpr.processing_state ORDER BY 1, 2, 3;
SELECT test.error_of($$UPDATE gdpr.choice SET action = 'consent_granted'$$);
SELECT test.error_of($$TRUNCATE gdpr.choice$$);

-- section: consent: bad input
SELECT test.error_of($$SELECT gdpr_set_consent('user', '2', 'nonsense', true, 'api')$$);
SELECT test.error_of($$SELECT gdpr_set_consent('user', '2', NULL, true, 'api')$$);
SELECT test.error_of($$SELECT gdpr_set_consent('user', '2', 'direct_marketing', NULL, 'api')$$);
SELECT test.error_of($$SELECT gdpr_set_consent('user', '2', 'direct_marketing', true, 'carrier pigeon')$$);
SELECT test.error_of($$SELECT gdpr_set_consent('user', '2', 'direct_marketing', true, 'gpc')$$);
SELECT test.error_of($$SELECT gdpr_set_consent('user', '2', 'service_delivery', true, 'api')$$);
SELECT test.error_of($$SELECT gdpr_set_consent('robot', '2', 'direct_marketing', true, 'api')$$);
SELECT test.error_of($$SELECT gdpr_set_consent('user', NULL, 'direct_marketing', true, 'api')$$);
SELECT test.error_of($$SELECT gdpr_set_consent('user', 'abc', 'direct_marketing', true, 'api')$$);
-- consent for an unknown subject is refused: nothing is recorded
SELECT test.error_of($$SELECT gdpr_set_consent('user', '424242', 'direct_marketing', true, 'api')$$);
SELECT count(*) AS unknown_subject_choices FROM gdpr.choice WHERE subject_id = '424242';

-- section: restriction: no purpose but storage and legal claims
SELECT gdpr_restrict('user', '1', 'accuracy contested') > 0 AS restricted;
SELECT purpose, may_process, why FROM gdpr_choices('user', '1')
 WHERE purpose IN ('service_delivery', 'legal_claims', 'billing', 'direct_marketing');
SELECT test.error_of($$SELECT gdpr_restrict('user', '1', ' ')$$);
SELECT test.error_of($$SELECT gdpr_restrict('user', '1', NULL)$$);
SELECT gdpr_lift_restriction('user', '1') > 0 AS lifted;
SELECT test.error_of($$SELECT gdpr_lift_restriction('user', '1')$$);
SELECT purpose, may_process FROM gdpr_choices('user', '1') WHERE purpose IN ('service_delivery', 'legal_claims');

-- section: objection: legitimate interests and direct marketing
SELECT gdpr_object('user', '3', 'product_improvement') > 0 AS objected;
SELECT gdpr_set_consent('user', '3', 'direct_marketing', true, 'web_form') > 0 AS consented;
SELECT gdpr_object('user', '3', 'direct_marketing') > 0 AS objected;
SELECT purpose, may_process, why FROM gdpr_choices('user', '3')
 WHERE purpose IN ('product_improvement', 'direct_marketing', 'customer_support', 'service_delivery');
SELECT test.error_of($$SELECT gdpr_object('user', '3', 'billing')$$);
SELECT test.error_of($$SELECT gdpr_object('user', '3', 'analytics_cookies')$$);
SELECT test.error_of($$SELECT gdpr_object('user', '3', 'nope')$$);

-- section: a purpose's basis changes: the state follows
UPDATE gdpr.purpose SET lawful_basis = 'consent' WHERE purpose = 'product_improvement';
SELECT purpose, may_process, why FROM gdpr_choices('user', '2') WHERE purpose = 'product_improvement';
UPDATE gdpr.purpose SET lawful_basis = 'legitimate_interests' WHERE purpose = 'product_improvement';
SELECT purpose, may_process, why FROM gdpr_choices('user', '2') WHERE purpose = 'product_improvement';
SELECT test.error_of($$UPDATE gdpr.purpose SET purpose = 'marketing' WHERE purpose = 'direct_marketing'$$);

-- section: a pending erasure request stops all processing
-- (recorded directly: the request tests count the ledger's audit entries)
INSERT INTO gdpr.request (kind, subject_id, subject_hash, request_type, channel, due_at)
VALUES ('user', '2', gdpr.subject_hash('user', '2'), 'erasure', 'email', now() + interval '1 month')
RETURNING request_id AS request_id \gset
SELECT purpose, may_process FROM gdpr_choices('user', '2') WHERE purpose IN ('service_delivery', 'analytics_cookies');
UPDATE gdpr.request SET status = 'rejected' WHERE request_id = :request_id;
SELECT purpose, may_process FROM gdpr_choices('user', '2') WHERE purpose IN ('service_delivery', 'analytics_cookies');

-- section: every choice is audited, and exported
SELECT action, details ->> 'purpose' AS purpose, details ->> 'source' AS source
  FROM gdpr.audit_log WHERE action IN ('consent_granted', 'consent_withdrawn', 'restricted', 'restriction_lifted', 'objected')
   AND audit_id > :audit_start
 ORDER BY audit_id;
SELECT c ->> 'action' AS action, c ->> 'purpose' AS purpose, c ->> 'source' AS source
  FROM jsonb_array_elements(gdpr_export('user', '3') -> 'choices') c;

-- section: erasure takes the subject's choices with it
SELECT gdpr_erase('user', '3', 'request 7') ->> 'found' AS erased;
SELECT count(*) AS choices_left FROM gdpr.choice WHERE kind = 'user' AND subject_id = '3';
SELECT count(*) AS state_left FROM gdpr.processing_state WHERE kind = 'user' AND subject_id = '3';
SELECT test.error_of($$SELECT gdpr_set_consent('user', '3', 'direct_marketing', true, 'api')$$);

-- section: who may record choices
SET ROLE gdpr_app;
SELECT test.error_of($$SELECT gdpr_restrict('user', '1', 'x')$$);
SELECT test.error_of($$SELECT gdpr_define_purpose('x', 'consent', '{personal}', 'x')$$);
SELECT test.error_of($$SELECT * FROM gdpr.choice$$);
RESET ROLE;
SELECT test.error_of($$SELECT gdpr._set_consent('user', '1', 'direct_marketing', true, 'api')$$);

-- (tests leave no choices, purposes or request ids behind for the next file)
DELETE FROM gdpr.choice;
DELETE FROM gdpr.processing_state;
SELECT test.reset_crm();
DELETE FROM gdpr.purpose;
DELETE FROM gdpr.processor;
DELETE FROM gdpr.category_retention;
SELECT setval('gdpr.request_request_id_seq', 1, false) IS NOT NULL AS ledger_reset;
