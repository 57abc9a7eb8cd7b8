\set u random(1, :users)
SELECT load.run('reader', format('SELECT count(gdpr_decrypt(email, ''load.contacts.email'')) FROM load.contacts WHERE owner_id = %s', :u));
SELECT load.run('reader', format('SELECT gdpr_decrypt(email, ''load.users.email'') FROM load.users WHERE user_id = %s', :u));
