\set v random(1, 100000000)
SELECT load.run('shredder', format('SELECT gdpr_encrypt(''visitor'', %L, ''x'', ''c'')', :v));
SELECT load.run('shredder', format('SELECT gdpr_shred_key(''visitor'', %L)', :v), 'shred');
