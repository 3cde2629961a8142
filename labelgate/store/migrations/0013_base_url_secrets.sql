-- Base URLs stored before a secret in them was refused (issue 10): a user name or password
-- (http://user:sk-...@host/v1), a query string or fragment (?api_key=...), or a key-shaped part
-- (sk-..., ant-...) is removed; the scheme, host, port and path stay. Each row changed is named in
-- migration_notes (what was removed, never the value). The secret is then gone from every table;
-- labelgate.store.db rewrites the file after this migration when it changed a row, so that the
-- old value is not left in the file's unused space either.
CREATE TABLE migration_notes (
    migration  VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    row_key    VARCHAR NOT NULL,        -- which row (here task_id/name/version of the labeler)
    note       VARCHAR NOT NULL,        -- what changed, without the values removed
    noted_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TEMP MACRO _lg_url_userinfo(u) AS regexp_matches(u, '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@');
CREATE TEMP MACRO _lg_url_query(u) AS regexp_matches(u, '[?#]');
CREATE TEMP MACRO _lg_url_key(u) AS regexp_matches(u, '(sk-|sk_|ant-)[A-Za-z0-9._-]{6,}');

INSERT INTO migration_notes (migration, table_name, row_key, note)
SELECT '0013_base_url_secrets', 'labeler_versions', task_id::VARCHAR || '/' || name || '/' || version,
       'base URL: removed ' || concat_ws(', ',
           CASE WHEN _lg_url_userinfo(base_url) THEN 'the user name and password' END,
           CASE WHEN _lg_url_query(base_url) THEN 'the query string or fragment' END,
           CASE WHEN _lg_url_key(regexp_replace(regexp_replace(base_url, '^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@',
                                                               '\1'), '[?#].*$', ''))
                THEN 'a key-shaped part of the path' END)
       || '; the key belongs in a LABELGATE_<NAME>_KEY variable'
FROM labeler_versions
WHERE base_url IS NOT NULL AND (_lg_url_userinfo(base_url) OR _lg_url_query(base_url) OR _lg_url_key(base_url))
ORDER BY rowid;

UPDATE labeler_versions
SET base_url = regexp_replace(
        regexp_replace(regexp_replace(base_url, '^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@', '\1'), '[?#].*$', ''),
        '(sk-|sk_|ant-)[A-Za-z0-9._-]{6,}', '[removed]', 'g')
WHERE base_url IS NOT NULL AND (_lg_url_userinfo(base_url) OR _lg_url_query(base_url) OR _lg_url_key(base_url));

DROP MACRO _lg_url_userinfo;
DROP MACRO _lg_url_query;
DROP MACRO _lg_url_key;
