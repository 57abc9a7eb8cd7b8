\set u random(1, :users)
\set x random(1, :users)
SELECT load.run('dpo', format('SELECT gdpr_erase(''user'', %L, ''load test'')', :u), 'erase');
SELECT load.run('dpo', format('SELECT gdpr_export(''user'', %L)', :x), 'export');
