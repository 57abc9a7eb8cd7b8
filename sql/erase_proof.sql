-- Erasure that checks its own result: canonical ids, unknown ids, hold
-- dates that are NULL, anonymization by type, generated columns, rules,
-- triggers that write the subject back, export of others' ciphertexts.
CREATE SCHEMA ep;
CREATE DOMAIN ep.country AS char(2) CHECK (VALUE ~ '^[A-Z]{2}$');
CREATE TYPE ep.tier AS ENUM ('free', 'pro');
CREATE TABLE ep.accounts (account_id uuid PRIMARY KEY, email bytea, name varchar(100) NOT NULL,
                          code char(2) NOT NULL, born date NOT NULL, ip inet NOT NULL, country ep.country NOT NULL,
                          tier ep.tier NOT NULL, upper_name text GENERATED ALWAYS AS (upper(name)) STORED);
CREATE TABLE ep.invoices (invoice_id bigint PRIMARY KEY, account_id uuid REFERENCES ep.accounts,
                          issued_on date, billing_name bytea);
CREATE TABLE ep.events (event_id bigint PRIMARY KEY, account_id uuid NOT NULL, what text);
SELECT gdpr_register_subject('account', 'ep.accounts', 'account_id');
SELECT gdpr_link('ep.events', 'account', 'account_id');
SELECT gdpr_hold('ep.invoices', '7 years', 'issued_on', 'tax law');
SELECT gdpr_tag('ep.accounts', 'email', 'personal', 'ep.accounts.email');
SELECT gdpr_tag('ep.accounts', 'name', 'personal');
SELECT gdpr_tag('ep.accounts', 'code', 'personal');
SELECT gdpr_tag('ep.accounts', 'born', 'personal');
SELECT gdpr_tag('ep.accounts', 'ip', 'technical');
SELECT gdpr_tag('ep.accounts', 'country', 'customer');
SELECT gdpr_tag('ep.accounts', 'tier', 'customer');
SELECT gdpr_tag('ep.accounts', 'upper_name', 'personal');
SELECT gdpr_tag('ep.invoices', 'billing_name', 'personal', 'ep.invoices.billing_name');
INSERT INTO ep.accounts (account_id, email, name, code, born, ip, country, tier)
SELECT id, gdpr_encrypt('account', id::text, 'a' || n || '@example.com', 'ep.accounts.email'),
       'Name ' || n, 'ab', '1990-01-01', ('10.0.0.' || n)::inet, 'FR', 'pro'
  FROM (VALUES (1, 'aaaaaaaa-0000-0000-0000-000000000001'::uuid), (2, 'aaaaaaaa-0000-0000-0000-000000000002'::uuid)) v(n, id);
INSERT INTO ep.invoices VALUES
  (10, 'aaaaaaaa-0000-0000-0000-000000000001', current_date,
   gdpr_encrypt('account', 'aaaaaaaa-0000-0000-0000-000000000001', 'Ada', 'ep.invoices.billing_name')),
  (11, 'aaaaaaaa-0000-0000-0000-000000000001', NULL, NULL),
  (12, 'aaaaaaaa-0000-0000-0000-000000000002', current_date - 3000, NULL);
INSERT INTO ep.events VALUES (20, 'aaaaaaaa-0000-0000-0000-000000000001', 'login'),
                             (21, 'aaaaaaaa-0000-0000-0000-000000000002', 'login');

-- section: the data map says what happens to rows with no hold date
SELECT table_name, on_erase FROM gdpr_data_map('account') ORDER BY depth, table_name;

-- section: an id in another spelling is the same subject: upper-case uuid
SELECT gdpr_export('account', 'AAAAAAAA-0000-0000-0000-000000000001') -> 'subject' AS subject;
SELECT gdpr_export('account', 'AAAAAAAA-0000-0000-0000-000000000001') -> 'data' -> 'ep.accounts' -> 0 ->> 'email' AS email;
SELECT * FROM test.full_error_of($$SELECT gdpr_export('account', 'not-a-uuid')$$);

-- section: erase through the upper-case spelling: the real key is shredded, the tombstone is the canonical one
SELECT jsonb_pretty(gdpr_erase('account', 'AAAAAAAA-0000-0000-0000-000000000001', 'request 1') - 'subject_hash' - 'held_until');
SELECT key_class, shredded_at IS NOT NULL AS shredded FROM gdpr.subject_key
 WHERE subject_address = gdpr._subject_key_address('account', 'aaaaaaaa-0000-0000-0000-000000000001') ORDER BY 1;
SELECT count(*) AS tombstones FROM gdpr.tombstone
 WHERE subject_hash = gdpr.subject_hash('account', 'aaaaaaaa-0000-0000-0000-000000000001');
-- the kept root row is anonymized by type, within each column's limits; the generated column follows
SELECT email IS NULL AS email_gone, name LIKE 'erased-%' AS name_anonymized, length(name) <= 100 AS fits,
       code, born, ip, country, tier, upper_name = upper(name) AS generated_follows
  FROM ep.accounts WHERE account_id = 'aaaaaaaa-0000-0000-0000-000000000001';
-- the held invoice stays readable; the one with no date is not held and went
SELECT invoice_id, gdpr_decrypt(billing_name, 'ep.invoices.billing_name') AS billing_name
  FROM ep.invoices ORDER BY 1;
SELECT count(*) AS events_of_1 FROM ep.events WHERE account_id = 'aaaaaaaa-0000-0000-0000-000000000001';
-- the other account is untouched
SELECT name, code, country FROM ep.accounts WHERE account_id = 'aaaaaaaa-0000-0000-0000-000000000002';
-- the root row had to stay: its foreign keys now refuse new rows for the erased account, not for others
SELECT tgname, tgnargs FROM pg_trigger WHERE tgrelid = 'ep.invoices'::regclass AND tgname LIKE 'gdpr_%';
SELECT test.error_of($$INSERT INTO ep.invoices VALUES (13, 'aaaaaaaa-0000-0000-0000-000000000001', current_date, NULL)$$);
INSERT INTO ep.invoices VALUES (14, 'aaaaaaaa-0000-0000-0000-000000000002', current_date, NULL);
-- a held row of the erased account can still be changed, as long as it does not take up a new reference
UPDATE ep.invoices SET issued_on = issued_on WHERE invoice_id = 10;
DELETE FROM ep.invoices WHERE invoice_id = 14;

-- section: an unknown id is reported as not found, and leaves no key and no tombstone
SELECT gdpr_erase('account', 'bbbbbbbb-0000-0000-0000-000000000009', 'request 2') ->> 'found' AS found;
SELECT count(*) AS keys FROM gdpr.subject_key WHERE subject_address = gdpr._subject_key_address('account', 'bbbbbbbb-0000-0000-0000-000000000009');
SELECT count(*) AS tombstones FROM gdpr.tombstone
 WHERE subject_hash = gdpr.subject_hash('account', 'bbbbbbbb-0000-0000-0000-000000000009');
SELECT gdpr_encrypt('account', 'bbbbbbbb-0000-0000-0000-000000000009', 'new subject', 'c') IS NOT NULL AS can_encrypt;

-- section: a trigger that writes the subject back: the erase finds it and changes nothing
CREATE FUNCTION ep.keep_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ep.events VALUES (OLD.event_id + 1000, OLD.account_id, 'history: ' || OLD.what);
  RETURN OLD;
END $$;
CREATE TRIGGER events_history AFTER DELETE ON ep.events FOR EACH ROW
  WHEN (OLD.what NOT LIKE 'history:%') EXECUTE FUNCTION ep.keep_history();
SELECT * FROM test.full_error_of($$SELECT gdpr_erase('account', 'aaaaaaaa-0000-0000-0000-000000000002', 'request 3')$$);
SELECT count(*) AS events_of_2 FROM ep.events WHERE account_id = 'aaaaaaaa-0000-0000-0000-000000000002';
SELECT count(*) AS accounts_of_2 FROM ep.accounts WHERE account_id = 'aaaaaaaa-0000-0000-0000-000000000002';
DROP TRIGGER events_history ON ep.events;

-- section: a rule that rewrites DELETE makes the plan refuse, before anything changes
CREATE TABLE ep.soft_deleted (event_id bigint);
CREATE RULE events_soft AS ON DELETE TO ep.events DO INSTEAD INSERT INTO ep.soft_deleted VALUES (OLD.event_id);
SELECT * FROM test.full_error_of($$SELECT gdpr_erase('account', 'aaaaaaaa-0000-0000-0000-000000000002', 'request 4')$$);
SELECT table_name, warnings FROM gdpr_data_map('account') WHERE table_name = 'ep.events';
DROP RULE events_soft ON ep.events;
SELECT gdpr_erase('account', 'aaaaaaaa-0000-0000-0000-000000000002', 'request 5') -> 'tables' AS tables;

-- section: a NOT NULL column without a placeholder: tagging warns, erase refuses while rows must stay
CREATE TABLE ep.members (member_id bigint PRIMARY KEY, shape point NOT NULL);
CREATE TABLE ep.member_invoices (invoice_id bigint PRIMARY KEY, member_id bigint REFERENCES ep.members,
                                 issued_on date);
SELECT gdpr_register_subject('member', 'ep.members', 'member_id');
SELECT gdpr_hold('ep.member_invoices', '7 years', 'issued_on', 'tax law');
SELECT gdpr_tag('ep.members', 'shape', 'personal');
INSERT INTO ep.members VALUES (1, '(1,1)');
INSERT INTO ep.member_invoices VALUES (1, 1, current_date);
SELECT * FROM test.full_error_of($$SELECT gdpr_erase('member', '1', 'request 6')$$);
SELECT count(*) AS members_kept FROM ep.members;

-- section: a NOT NULL domain column whose checks refuse every placeholder
SELECT gdpr_tag('ep.accounts', 'country', 'personal');
SELECT table_name, warnings FROM gdpr_data_map('account') WHERE table_name = 'ep.accounts';
SELECT gdpr_tag('ep.accounts', 'country', 'customer');

-- section: gdpr_encrypt and gdpr_shred_key take the id in any spelling as the same subject
INSERT INTO ep.members VALUES (51, '(5,1)');
CREATE TABLE ep.member_mail AS SELECT gdpr_encrypt('member', '051', 'fiftyone@example.com', 'ep.mail') AS mail;
SELECT gdpr_decrypt(mail, 'ep.mail') AS readable FROM ep.member_mail;
SELECT count(*) AS keys_of_member_51 FROM gdpr.subject_key WHERE subject_address = gdpr._subject_key_address('member', '51');
SELECT gdpr_shred_key('member', '0051') AS shredded;
SELECT gdpr_decrypt(mail, 'ep.mail') IS NULL AS erased FROM ep.member_mail;
SELECT test.error_of($$SELECT gdpr_encrypt('member', '+51', 'again', 'ep.mail')$$);
SELECT test.error_of($$SELECT gdpr_encrypt('member', 'fifty', 'x', 'ep.mail')$$);
-- kinds outside the data map keep their ids as given
SELECT gdpr_decrypt(gdpr_encrypt('unmapped', '007', 'x', 'c'), 'c') AS unmapped;
SELECT count(*) FILTER (WHERE subject_address = gdpr._subject_key_address('unmapped', '007')) AS as_given,
       count(*) FILTER (WHERE subject_address = gdpr._subject_key_address('unmapped', '7')) AS canonical
  FROM gdpr.subject_key;
DELETE FROM gdpr.subject_key WHERE subject_address = gdpr._subject_key_address('unmapped', '007');
-- a kind registered while the session runs is seen at once
CREATE TABLE ep.late (late_id int PRIMARY KEY);
SELECT length(gdpr_encrypt('late', '07', 'before', 'c')) > 0 AS before_registering;
SELECT gdpr_register_subject('late', 'ep.late', 'late_id');
SELECT length(gdpr_encrypt('late', '007', 'after', 'c')) > 0 AS after_registering;
SELECT count(*) AS keys_of_late_7 FROM gdpr.subject_key WHERE subject_address = gdpr._subject_key_address('late', '7');
DELETE FROM gdpr.subject_key WHERE subject_address = gdpr._subject_key_address('late', '7');

-- section: ids that do not parse, empty kind, empty reason
SELECT test.error_of($$SELECT gdpr_erase('member', 'one', 'x')$$);
SELECT test.error_of($$SELECT gdpr_erase('', '1', 'x')$$);
SELECT test.error_of($$SELECT gdpr_erase('member', '1', '')$$);
SELECT test.error_of($$SELECT gdpr_rectify('member', '0x1', 'ep.members', 'shape', '(2,2)')$$);
-- '050' is member 50
INSERT INTO ep.members VALUES (50, '(5,5)');
SELECT gdpr_rectify('member', '050', 'ep.members', 'shape', '(6,6)') AS rectified;

-- section: export decrypts only the subject's own values, not another subject's in a row it owns
INSERT INTO ep.accounts (account_id, email, name, code, born, ip, country, tier)
VALUES ('cccccccc-0000-0000-0000-000000000003', NULL, 'C', 'cc', '2000-01-01', '10.0.0.3', 'DE', 'free');
CREATE TABLE ep.remarks (remark_id bigint PRIMARY KEY, account_id uuid NOT NULL REFERENCES ep.accounts,
                         own_note bytea, about_other bytea);
SELECT gdpr_tag('ep.remarks', 'own_note', 'personal', 'ep.remarks.note');
SELECT gdpr_tag('ep.remarks', 'about_other', 'personal', 'ep.remarks.note');
INSERT INTO ep.remarks VALUES
  (1, 'cccccccc-0000-0000-0000-000000000003',
   gdpr_encrypt('account', 'cccccccc-0000-0000-0000-000000000003', 'mine', 'ep.remarks.note'),
   gdpr_encrypt('account', 'dddddddd-0000-0000-0000-000000000004', 'someone else''s secret', 'ep.remarks.note'));
SELECT gdpr_export('account', 'cccccccc-0000-0000-0000-000000000003') -> 'data' -> 'ep.remarks' -> 0 AS remark;

-- section: a composite foreign key ON DELETE SET NULL (owner_id) detaches, and keeps the tenant
CREATE TABLE ep.tenants (tenant_id int PRIMARY KEY);
CREATE TABLE ep.staff (tenant_id int NOT NULL REFERENCES ep.tenants, staff_id int NOT NULL,
                       staff_key text NOT NULL UNIQUE, full_name text, PRIMARY KEY (tenant_id, staff_id));
CREATE TABLE ep.tickets (ticket_id int PRIMARY KEY, tenant_id int NOT NULL REFERENCES ep.tenants, owner_id int,
                         FOREIGN KEY (tenant_id, owner_id) REFERENCES ep.staff ON DELETE SET NULL (owner_id));
SELECT gdpr_register_subject('staffer', 'ep.staff', 'staff_key');
INSERT INTO ep.tenants VALUES (1);
INSERT INTO ep.staff VALUES (1, 7, 't1-s7', 'Grace'), (1, 8, 't1-s8', 'Alan');
INSERT INTO ep.tickets VALUES (70, 1, 7), (71, 1, 8);
SELECT table_name, on_erase FROM gdpr_data_map('staffer') ORDER BY depth;
SELECT gdpr_erase('staffer', 't1-s7', 'request 10') -> 'tables' AS tables;
SELECT * FROM ep.tickets ORDER BY 1;
SELECT tenant_id, staff_id FROM ep.staff;

-- section: a visit is the patient's and the clinician's: erasing the clinician keeps it and its prescriptions
CREATE TABLE ep.patients (patient_id int PRIMARY KEY, name text);
CREATE TABLE ep.clinicians (clinician_id int PRIMARY KEY, name text);
CREATE TABLE ep.visits (visit_id int PRIMARY KEY, patient_id int NOT NULL REFERENCES ep.patients,
                        clinician_id int REFERENCES ep.clinicians, visited_on date, notes bytea);
CREATE TABLE ep.prescriptions (rx_id int PRIMARY KEY, visit_id int NOT NULL REFERENCES ep.visits, drug text);
SELECT gdpr_register_subject('patient', 'ep.patients', 'patient_id');
SELECT gdpr_register_subject('clinician', 'ep.clinicians', 'clinician_id');
SELECT gdpr_hold('ep.visits', '10 years', 'visited_on', 'medical records law');
SELECT gdpr_tag('ep.visits', 'notes', 'sensitive', 'ep.visits.notes');
SELECT gdpr_tag('ep.patients', 'name', 'personal');
SELECT gdpr_tag('ep.clinicians', 'name', 'personal');
INSERT INTO ep.patients VALUES (1, 'Pat');
INSERT INTO ep.clinicians VALUES (9, 'Dr Who');
INSERT INTO ep.visits VALUES
  (100, 1, 9, current_date, gdpr_encrypt('patient', '1', 'recent visit', 'ep.visits.notes')),
  (101, 1, 9, current_date - 5000, gdpr_encrypt('patient', '1', 'old visit', 'ep.visits.notes'));
INSERT INTO ep.prescriptions VALUES (1000, 100, 'aspirin'), (1001, 101, 'rest');
SELECT gdpr_erase('clinician', '9', 'request 11') -> 'tables' AS tables;
SELECT visit_id, patient_id, clinician_id, gdpr_decrypt(notes, 'ep.visits.notes') AS notes FROM ep.visits ORDER BY 1;
SELECT count(*) AS prescriptions FROM ep.prescriptions;
SELECT count(*) AS holds_for_clinician FROM gdpr.hold_release WHERE kind = 'clinician';
-- the patient's own erase later: the recent visit is held for the patient, under the patient's hold key
SELECT gdpr_erase('patient', '1', 'request 12') -> 'tables' AS tables;
SELECT visit_id, gdpr_decrypt(notes, 'ep.visits.notes') AS notes FROM ep.visits ORDER BY 1;
SELECT kind, hold_table, row_key FROM gdpr.hold_release WHERE kind IN ('patient', 'clinician') ORDER BY 1, 3;

-- section: when a hold ends, gdpr_release_holds erases the row and shreds the hold key with the last one
SELECT test.error_of($$SELECT gdpr_release_holds(0)$$);
SELECT gdpr_release_holds(10) AS nothing_due;
UPDATE gdpr.hold_release SET release_at = now() - interval '1 day' WHERE kind IN ('patient', 'clinician');
SELECT gdpr_release_holds(1) AS first_batch;
SELECT gdpr_release_holds(10) AS second_batch;
SELECT count(*) AS visits_left FROM ep.visits;
SELECT kind, released_at IS NOT NULL AS released FROM gdpr.hold_release WHERE kind IN ('patient', 'clinician') ORDER BY 1;
SELECT count(*) AS live_hold_keys FROM gdpr.subject_key
 WHERE key_id IN (SELECT h.hold_key_id FROM gdpr.hold_release h WHERE h.kind IN ('patient', 'clinician'))
   AND key_class = 'hold' AND wrapped_key IS NOT NULL;

-- section: a root row with a SET NULL key to another kind's subject is erased, not kept as shared
CREATE TABLE ep.doctors (doctor_id int PRIMARY KEY, name text);
CREATE TABLE ep.clients (client_id int PRIMARY KEY, name text, doctor_id int REFERENCES ep.doctors ON DELETE SET NULL);
SELECT gdpr_register_subject('client', 'ep.clients', 'client_id');
SELECT gdpr_register_subject('doctor', 'ep.doctors', 'doctor_id');
SELECT gdpr_tag('ep.clients', 'name', 'personal');
INSERT INTO ep.doctors VALUES (1, 'Dr House');
INSERT INTO ep.clients VALUES (52, 'Pat', 1), (53, 'Sam', 1);
SELECT gdpr_erase('client', '52', 'request 15') -> 'tables' AS tables;
SELECT client_id, name, doctor_id FROM ep.clients ORDER BY 1;
-- erasing the doctor detaches the client that remains
SELECT gdpr_erase('doctor', '1', 'request 16') -> 'tables' AS tables;
SELECT client_id, name, doctor_id FROM ep.clients ORDER BY 1;
-- a reason of blanks is no reason
SELECT test.error_of($$SELECT gdpr_erase('client', '53', '   ')$$);

-- section: rows of others whose reference to the subject erase clears are in the export
CREATE TABLE ep.shoppers (shopper_id int PRIMARY KEY, name text, referred_by int REFERENCES ep.shoppers);
SELECT gdpr_register_subject('shopper', 'ep.shoppers', 'shopper_id');
SELECT gdpr_tag('ep.shoppers', 'name', 'personal');
INSERT INTO ep.shoppers VALUES (1, 'Alice', NULL), (2, 'Bob', 1), (3, 'Carol', 1);
SELECT gdpr_export('shopper', '1') -> 'data' AS data;
SELECT gdpr_erase('shopper', '1', 'request 17') -> 'tables' AS tables;
SELECT * FROM ep.shoppers ORDER BY 1;

-- section: a row shared through a message of an erased author goes with its last living subject
CREATE TABLE ep.chat_users (user_id int PRIMARY KEY, name text);
CREATE TABLE ep.chat_msgs (msg_id int PRIMARY KEY, sender_id int NOT NULL REFERENCES ep.chat_users, body text);
CREATE TABLE ep.reactions (msg_id int REFERENCES ep.chat_msgs ON DELETE CASCADE,
                           user_id int REFERENCES ep.chat_users ON DELETE CASCADE, PRIMARY KEY (msg_id, user_id));
SELECT gdpr_register_subject('chatter', 'ep.chat_users', 'user_id');
SELECT gdpr_tag('ep.chat_users', 'name', 'personal');
SELECT gdpr_tag('ep.chat_msgs', 'body', 'personal');
INSERT INTO ep.chat_users VALUES (1, 'Alice'), (2, 'Bob');
INSERT INTO ep.chat_msgs VALUES (10, 1, 'hi');
INSERT INTO ep.reactions VALUES (10, 2);
SELECT gdpr_erase('chatter', '1', 'request 18') -> 'tables' AS alice;
SELECT gdpr_erase('chatter', '2', 'request 19') -> 'tables' AS bob;
SELECT (SELECT count(*) FROM ep.reactions) AS reactions, (SELECT count(*) FROM ep.chat_users WHERE user_id = 2) AS bob_left;

-- section: a block between two users (two NOT NULL references) stays while either user is there
CREATE TABLE ep.people (person_id int PRIMARY KEY, name text);
CREATE TABLE ep.blocks (blocker int NOT NULL REFERENCES ep.people, blocked int NOT NULL REFERENCES ep.people,
                        reason text, PRIMARY KEY (blocker, blocked));
SELECT gdpr_register_subject('person', 'ep.people', 'person_id');
SELECT gdpr_tag('ep.people', 'name', 'personal');
INSERT INTO ep.people VALUES (1, 'Ann'), (2, 'Bob');
SELECT gdpr_tag('ep.blocks', 'reason', 'personal');
INSERT INTO ep.blocks VALUES (1, 2, 'spam');
SELECT table_name, on_erase FROM gdpr_data_map('person') WHERE table_name = 'ep.blocks';
-- the reason is in a row of both: no one's export shows it
SELECT gdpr_export('person', '1') -> 'data' -> 'ep.blocks' AS ann_sees,
       gdpr_export('person', '2') -> 'data' -> 'ep.blocks' AS bob_sees;
SELECT gdpr_erase('person', '1', 'request 13') -> 'tables' AS tables;
SELECT * FROM ep.blocks;
SELECT person_id, name FROM ep.people ORDER BY 1;
SELECT gdpr_erase('person', '2', 'request 14') -> 'tables' AS tables;
SELECT count(*) AS blocks_left FROM ep.blocks;

-- section: a review detached by ON DELETE SET NULL loses its author's name, and the export had it
CREATE TABLE ep.products (product_id int PRIMARY KEY, title text);
CREATE TABLE ep.reviews (review_id int PRIMARY KEY, product_id int NOT NULL REFERENCES ep.products,
                         author_id int REFERENCES ep.people ON DELETE SET NULL, author_name varchar(40) NOT NULL,
                         stars int, body text);
CREATE TABLE ep.review_votes (review_id int REFERENCES ep.reviews ON DELETE SET NULL,
                              voter_id int REFERENCES ep.people ON DELETE SET NULL, voter_name text,
                              vote_id int PRIMARY KEY);
SELECT gdpr_tag('ep.reviews', 'author_name', 'personal');
SELECT gdpr_tag('ep.reviews', 'body', 'personal');
SELECT gdpr_tag('ep.review_votes', 'voter_name', 'personal');
INSERT INTO ep.people VALUES (3, 'Cyd'), (4, 'Dee');
INSERT INTO ep.products VALUES (1, 'kettle');
INSERT INTO ep.reviews VALUES (1, 1, 3, 'Cyd C.', 5, 'boils fast'), (2, 1, 4, 'Dee D.', 2, 'too loud');
-- Dee voted on Cyd's review, Cyd on Dee's
INSERT INTO ep.review_votes VALUES (1, 4, 'Dee D.', 1), (2, 3, 'Cyd C.', 2);
SELECT table_name, on_erase FROM gdpr_data_map('person') WHERE table_name LIKE 'ep.review%' ORDER BY 1;
SELECT gdpr_export('person', '3') -> 'data' -> 'ep.reviews' AS cyd_reviews,
       gdpr_export('person', '3') -> 'data' -> 'ep.review_votes' AS cyd_votes;
SELECT gdpr_erase('person', '3', 'request 15') -> 'tables' AS tables;
SELECT review_id, product_id, author_id, author_name LIKE 'erased-%' AS name_erased, stars, body
  FROM ep.reviews ORDER BY review_id;
-- Dee's vote on Cyd's review stays Dee's; Cyd's vote on Dee's review is detached and anonymized
SELECT * FROM ep.review_votes ORDER BY vote_id;

-- section: foreign keys declared on partitions only are the partitioned table's, for later partitions too
CREATE TABLE ep.renters (renter_id int PRIMARY KEY, name text);
CREATE TABLE ep.payments (payment_id int, renter_id int NOT NULL, paid_on date NOT NULL, amount numeric,
                          PRIMARY KEY (payment_id, paid_on)) PARTITION BY RANGE (paid_on);
CREATE TABLE ep.payments_2024 PARTITION OF ep.payments FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
ALTER TABLE ep.payments_2024 ADD FOREIGN KEY (renter_id) REFERENCES ep.renters;
CREATE TABLE ep.payments_2025 PARTITION OF ep.payments FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
SELECT gdpr_register_subject('renter', 'ep.renters', 'renter_id');
SELECT gdpr_tag('ep.renters', 'name', 'personal');
INSERT INTO ep.renters VALUES (1, 'Ann'), (2, 'Bo');
INSERT INTO ep.payments VALUES (1, 1, '2024-03-01', 10), (2, 1, '2025-03-01', 11), (3, 2, '2025-04-01', 12);
SELECT table_name, reached_by FROM gdpr_data_map('renter') ORDER BY depth, table_name;
SELECT gdpr_export('renter', '1') -> 'data' -> 'ep.payments' AS payments;
SELECT gdpr_erase('renter', '1', 'request 16') -> 'tables' AS tables;
SELECT payment_id, renter_id FROM ep.payments ORDER BY 1;

-- section: inheritance children are exported with their own columns
CREATE TABLE ep.contact_points (point_id int PRIMARY KEY, renter_id int NOT NULL REFERENCES ep.renters, channel text);
CREATE TABLE ep.phone_points (phone text) INHERITS (ep.contact_points);
SELECT gdpr_tag('ep.phone_points', 'phone', 'personal');
INSERT INTO ep.contact_points VALUES (1, 2, 'mail');
INSERT INTO ep.phone_points VALUES (2, 2, 'phone', '+33 1 23 45 67 89');
SELECT gdpr_export('renter', '2') -> 'data' -> 'ep.contact_points' AS points,
       gdpr_export('renter', '2') -> 'data' -> 'ep.phone_points' AS phones;
SELECT gdpr_erase('renter', '2', 'request 17') -> 'tables' AS tables;
SELECT count(*) AS points_left FROM ep.contact_points;

-- section: the subject's own address (a row its rows refer to) goes with it; a shared address stays
CREATE TABLE ep.addresses (address_id int PRIMARY KEY, street text, phone text);
CREATE TABLE ep.countries (code text PRIMARY KEY, name text);
CREATE TABLE ep.customers (customer_id int PRIMARY KEY, name text, address_id int REFERENCES ep.addresses,
                           country text REFERENCES ep.countries);
CREATE TABLE ep.orders (order_id int PRIMARY KEY, customer_id int NOT NULL REFERENCES ep.customers,
                        ship_to int REFERENCES ep.addresses);
SELECT gdpr_register_subject('customer', 'ep.customers', 'customer_id');
SELECT gdpr_tag('ep.customers', 'name', 'personal');
SELECT gdpr_tag('ep.addresses', 'street', 'personal');
SELECT gdpr_tag('ep.addresses', 'phone', 'personal');
INSERT INTO ep.countries VALUES ('FR', 'France'), ('DE', 'Germany');
INSERT INTO ep.addresses VALUES (1, '1 rue A', '0101'), (2, '2 rue B', '0202'), (3, '3 rue C', '0303'), (4, '4 rue D', '0404');
-- Eve lives at 1 alone and ships to 3; Fay and Gus share 2; Gus ships to 3 too; 4 is nobody's
INSERT INTO ep.customers VALUES (1, 'Eve', 1, 'DE'), (2, 'Fay', 2, 'FR'), (3, 'Gus', 2, 'FR');
INSERT INTO ep.orders VALUES (1, 1, 3), (2, 1, 1), (3, 3, 3);
SELECT table_name, depth, reached_by, on_erase FROM gdpr_data_map('customer') ORDER BY depth, table_name;
-- the compiled plan, step by step: the parent side comes last
SELECT phase, table_name, action FROM gdpr_erase_plan('customer') WHERE phase IN ('lock', 'erase') ORDER BY step;
SELECT gdpr_export('customer', '1') -> 'data' -> 'ep.addresses' AS eve_addresses;
SELECT gdpr_erase('customer', '1', 'request 18') -> 'tables' AS tables;
SELECT address_id, street FROM ep.addresses ORDER BY 1;
-- Fay's address is Gus's too: it stays
SELECT gdpr_erase('customer', '2', 'request 19') -> 'tables' AS tables;
SELECT address_id FROM ep.addresses ORDER BY 1;
-- a lookup table with nothing tagged is never the subject's, even if only Eve referred to Germany
SELECT code FROM ep.countries ORDER BY 1;

-- section: foreign keys DEFERRABLE INITIALLY DEFERRED: checked within the erase, deferred again after it
CREATE TABLE ep.forum_members (member_id int PRIMARY KEY, name text);
CREATE TABLE ep.forum_posts (post_id int PRIMARY KEY,
                       member_id int NOT NULL REFERENCES ep.forum_members DEFERRABLE INITIALLY DEFERRED, body text);
SELECT gdpr_register_subject('poster', 'ep.forum_members', 'member_id');
SELECT gdpr_tag('ep.forum_members', 'name', 'personal');
INSERT INTO ep.forum_members VALUES (1, 'Hal'), (2, 'Ida');
INSERT INTO ep.forum_posts VALUES (1, 1, 'hello'), (2, 2, 'hi');
BEGIN;
SELECT gdpr_erase('poster', '1', 'request 20') -> 'tables' AS tables;
-- still deferred for the rest of the caller's transaction
INSERT INTO ep.forum_posts VALUES (3, 3, 'member 3 comes later in this transaction');
INSERT INTO ep.forum_members VALUES (3, 'Jo');
COMMIT;
SELECT post_id, member_id FROM ep.forum_posts ORDER BY 1;

-- section: a link checks the column's type against the subject id's
CREATE TABLE ep.tagged_posts (post_id int PRIMARY KEY, person_ids int[], meta jsonb, person_code text, person_id int);
SELECT * FROM test.full_error_of($$SELECT gdpr_link('ep.tagged_posts', 'person', 'meta')$$);
SELECT test.error_of($$SELECT gdpr_link('ep.tagged_posts', 'person', 'person_code')$$);
-- the data map points at a column that looks like a reference but is none
SELECT unnest(warnings) AS warning FROM gdpr_data_map('person') WHERE table_name = 'ep.people';
SELECT gdpr_link('ep.tagged_posts', 'person', 'person_id');

-- section: a linked array names every subject it holds: erasing one removes its id, a row of it alone goes
CREATE TABLE ep.photos (photo_id int PRIMARY KEY, person_ids int[] NOT NULL, caption text);
SELECT gdpr_link('ep.photos', 'person', 'person_ids');
SELECT gdpr_tag('ep.photos', 'caption', 'personal');
INSERT INTO ep.people VALUES (5, 'Eli'), (6, 'Flo');
INSERT INTO ep.photos VALUES (1, '{5,6}', 'Eli and Flo'), (2, '{5}', 'Eli alone'), (3, '{6}', 'Flo alone');
SELECT gdpr_export('person', '5') -> 'data' -> 'ep.photos' AS eli_photos;
SELECT gdpr_erase('person', '5', 'request 21') -> 'tables' AS tables;
SELECT * FROM ep.photos ORDER BY photo_id;
-- a new row naming the erased subject among others is refused
SELECT test.error_of($$INSERT INTO ep.photos VALUES (4, '{6,5}', 'again')$$);
INSERT INTO ep.photos VALUES (4, '{6,NULL}', 'Flo again');

-- clean up
DROP SCHEMA ep CASCADE;
DELETE FROM gdpr.subject_key;
DELETE FROM gdpr.tombstone WHERE kind IN ('account', 'member', 'patient', 'clinician', 'person', 'staffer', 'staff_member', 'client', 'doctor', 'shopper', 'chatter', 'renter', 'customer', 'poster');
DELETE FROM gdpr.hold_release WHERE kind IN ('account', 'member', 'patient', 'clinician', 'person', 'staffer', 'staff_member');
