\set u random(1, :users)
BEGIN;
SELECT load.run('writer', format('INSERT INTO load.contacts (owner_id, email) VALUES (%s, gdpr_encrypt(''user'', %L, ''new contact'', ''load.contacts.email''))', :u, :u));
SELECT load.run('writer', format('INSERT INTO load.page_views (user_id, url) VALUES (%s, ''/new'')', :u));
COMMIT;
-- a new subject: the first use of its key
SELECT load.run('writer', 'INSERT INTO load.users SELECT n, gdpr_encrypt(''user'', n::text, ''new@example.com'', ''load.users.email''), ''new'' FROM (SELECT nextval(''load.new_user_id'') n) s');
