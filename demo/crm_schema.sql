-- A small CRM, as a SaaS vendor would run it: tenants (accounts), their
-- users, and the contacts those users manage. Personal fields are stored
-- encrypted with the data key of the person they describe.
CREATE TABLE accounts (
  account_id   bigint PRIMARY KEY,
  company_name text NOT NULL
);

CREATE TABLE users (
  user_id     bigint PRIMARY KEY,
  account_id  bigint NOT NULL REFERENCES accounts,
  email       bytea NOT NULL,          -- gdpr_encrypt('user', user_id, ..., 'crm.users.email')
  full_name   bytea NOT NULL,          -- gdpr_encrypt('user', user_id, ..., 'crm.users.full_name')
  job_title   text,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE contacts (
  contact_id  bigint PRIMARY KEY,
  account_id  bigint NOT NULL REFERENCES accounts,
  owner_id    bigint REFERENCES users ON DELETE SET NULL,  -- contacts outlive the user who manages them
  email       bytea,                   -- gdpr_encrypt('contact', contact_id, ..., 'crm.contacts.email')
  phone       bytea,                   -- gdpr_encrypt('contact', contact_id, ..., 'crm.contacts.phone')
  company     text
);

INSERT INTO accounts VALUES (1, 'Acme Ltd'), (2, 'Globex GmbH');

INSERT INTO users (user_id, account_id, email, full_name, job_title)
SELECT id, account, gdpr_encrypt('user', id::text, email, 'crm.users.email'),
       gdpr_encrypt('user', id::text, name, 'crm.users.full_name'), title
  FROM (VALUES (10, 1, 'ada@acme.example',    'Ada Lovelace', 'Head of Sales'),
               (11, 1, 'alan@acme.example',   'Alan Turing',  'Account Executive'),
               (20, 2, 'grace@globex.example','Grace Hopper', 'CEO')) AS u(id, account, email, name, title);

INSERT INTO contacts (contact_id, account_id, owner_id, email, phone, company)
SELECT id, account, owner, gdpr_encrypt('contact', id::text, email, 'crm.contacts.email'),
       gdpr_encrypt('contact', id::text, phone, 'crm.contacts.phone'), company
  FROM (VALUES (100, 1, 10, 'marie@curie.example',   '+33 1 23 45 67 89', 'Radium Inc'),
               (101, 1, 11, 'nikola@tesla.example',  '+1 555 0100',       'Coil Works'),
               (200, 2, 20, 'emmy@noether.example',  '+49 30 1234567',    'Ring Theory AG')) AS c(id, account, owner, email, phone, company);

-- Invoices are kept 7 years for tax law; sessions record IP addresses;
-- page views are logged without a foreign key.
CREATE TABLE invoices (
  invoice_id   bigint PRIMARY KEY,
  user_id      bigint NOT NULL REFERENCES users,
  billing_name bytea NOT NULL,          -- gdpr_encrypt('user', user_id, ..., 'crm.invoices.billing_name')
  amount       numeric NOT NULL,
  issued_on    date NOT NULL
);
CREATE INDEX ON invoices (user_id);
CREATE TABLE sessions (
  session_id bigint PRIMARY KEY,
  user_id    bigint NOT NULL REFERENCES users ON DELETE CASCADE,
  ip_address inet,
  started_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE page_views (view_id bigint PRIMARY KEY, user_id bigint NOT NULL, path text NOT NULL);
CREATE INDEX ON page_views (user_id);
CREATE INDEX ON contacts (owner_id);

INSERT INTO invoices VALUES
  (1, 11, gdpr_encrypt('user', '11', 'Alan Turing, Bletchley Park', 'crm.invoices.billing_name'), 49, current_date - 40),
  (2, 11, gdpr_encrypt('user', '11', 'Alan Turing, Manchester', 'crm.invoices.billing_name'), 49, current_date - interval '8 years');
INSERT INTO sessions (session_id, user_id, ip_address) VALUES (1, 11, '192.0.2.44'), (2, 10, '198.51.100.7');
INSERT INTO page_views VALUES (1, 11, '/deals'), (2, 11, '/reports'), (3, 10, '/deals');
