-- What the security review of sign-in found (README: Who may see what), put right in the
-- database; 0009 stays as it was applied.
--
--   historical.dashboard_session   every person's dashboard session, by the SHA-256 of its id
--                                  (the id travels in the signed cookie): signing out deletes
--                                  it, so a copy of the cookie stops working; `deleton users
--                                  remove` deletes a name's sessions; an account's session
--                                  holds while it carries the account's session key, which
--                                  `deleton users password` makes anew
--   historical.sign_in_failure     failed password sign-ins per name (lower case), counted
--                                  and judged inside sign_in_password, one try at a time per
--                                  name, whichever dashboard process asks
--   historical.sign_in_secret      a random key of the database's own, for the decoy salts of
--                                  names without a password
--
-- Passwords are peppered now (README): the dashboard hashes the HMAC of a password under a key
-- the database never sees, so neither the database nor any login of it can check a guess.
-- Hashes made before were not: they can never match again, so they are cleared, and those
-- accounts sign in by link until `deleton users password NAME --password-stdin` sets one.
--
-- The dashboard's login, deleton_reader, still reads none of these tables: it calls the
-- definer functions below, granted to it alone.

-- An account's session key: made anew when the account is made and when its password changes.
-- A session of an account holds only while its key is the account's, so a password change ends
-- every session made before it (a session being started with the old password at that very
-- moment included), and a name removed and made again is another account.
ALTER TABLE historical.account ADD COLUMN session_key uuid NOT NULL DEFAULT gen_random_uuid();

CREATE TABLE historical.dashboard_session (
    digest bytea PRIMARY KEY CHECK (length(digest) = 32),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role text NOT NULL CHECK (role IN ('staff', 'admin')),
    via text NOT NULL CHECK (via IN ('password', 'link', 'oidc', 'alb')),
    account_key uuid,  -- the account's session key when it began; NULL: no account of ours
    started_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    CHECK ((via IN ('password', 'link')) = (account_key IS NOT NULL))
);
CREATE INDEX dashboard_session_name ON historical.dashboard_session (name);
CREATE INDEX dashboard_session_expires ON historical.dashboard_session (expires_at);
ALTER TABLE historical.dashboard_session OWNER TO deleton_writer;
REVOKE ALL ON historical.dashboard_session FROM PUBLIC, deleton_reader, deleton_api;

-- account_role told any name's role, so the reader could list the accounts; a session is now
-- asked after by the digest of its id alone (session_role).
DROP FUNCTION historical.account_role(text);
DROP FUNCTION historical.consume_login_link(bytea);

-- Uses a one-time link and starts its session, in one statement: the account and its role,
-- once, while the link has not expired. Two uses at once: the second waits for the first's
-- row lock, then finds the link used.
CREATE FUNCTION historical.consume_login_link(p_digest bytea, p_session bytea, p_seconds integer)
RETURNS TABLE (name text, role text)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH used AS (
        UPDATE historical.login_link l SET used_at = now()
        FROM historical.account a
        WHERE l.digest = p_digest AND l.used_at IS NULL AND l.expires_at > now()
          AND a.name = l.name AND p_seconds BETWEEN 60 AND 2592000
        RETURNING a.name, a.role, a.session_key
    ), started AS (
        INSERT INTO historical.dashboard_session (digest, name, role, via, account_key,
                                                  expires_at)
        SELECT p_session, u.name, u.role, 'link', u.session_key,
               now() + make_interval(secs => p_seconds)
        FROM used u
    )
    SELECT u.name, u.role FROM used u
$$;

-- The session of a person an identity provider (or the load balancer's header) vouched for,
-- for p_seconds; sessions long over go. An account's sessions start only with its password
-- or link checked, in the same statement (consume_login_link, sign_in_password).
CREATE FUNCTION historical.start_session(p_session bytea, p_name text, p_role text,
                                         p_via text, p_seconds integer)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_via IS DISTINCT FROM 'oidc' AND p_via IS DISTINCT FROM 'alb' THEN
        RAISE EXCEPTION 'only an identity provider''s sessions start here'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_seconds NOT BETWEEN 60 AND 2592000 THEN
        RAISE EXCEPTION 'a session lasts from a minute to 30 days'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DELETE FROM historical.dashboard_session WHERE expires_at < now();
    INSERT INTO historical.dashboard_session (digest, name, role, via, expires_at)
    VALUES (p_session, p_name, p_role, p_via, now() + make_interval(secs => p_seconds));
END $$;

-- The role of a session now; NULL when it was signed out, is over, or its account was removed,
-- given another role or another password.
CREATE FUNCTION historical.session_role(p_session bytea) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT s.role FROM historical.dashboard_session s
    WHERE s.digest = p_session AND s.expires_at > now()
      AND (s.account_key IS NULL OR EXISTS (
          SELECT 1 FROM historical.account a
          WHERE a.name = s.name AND a.role = s.role AND a.session_key = s.account_key))
$$;

-- Signing out: the session ends for every copy of its cookie.
CREATE FUNCTION historical.end_session(p_session bytea) RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH ended AS (
        DELETE FROM historical.dashboard_session WHERE digest = p_session RETURNING 1
    )
    SELECT count(*) > 0 FROM ended
$$;

ALTER FUNCTION historical.consume_login_link(bytea, bytea, integer) OWNER TO deleton_writer;
ALTER FUNCTION historical.start_session(bytea, text, text, text, integer) OWNER TO deleton_writer;
ALTER FUNCTION historical.session_role(bytea) OWNER TO deleton_writer;
ALTER FUNCTION historical.end_session(bytea) OWNER TO deleton_writer;
REVOKE ALL ON FUNCTION historical.consume_login_link(bytea, bytea, integer),
    historical.start_session(bytea, text, text, text, integer),
    historical.session_role(bytea), historical.end_session(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION historical.consume_login_link(bytea, bytea, integer),
    historical.start_session(bytea, text, text, text, integer),
    historical.session_role(bytea), historical.end_session(bytea) TO deleton_reader;

-- --- passwords: peppered, counted, no oracle (review F5) ---------------------------------------

UPDATE historical.account SET password_hash = NULL WHERE password_hash IS NOT NULL;

CREATE TABLE historical.sign_in_failure (
    name_key text PRIMARY KEY,
    failures integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    last_at timestamptz NOT NULL DEFAULT '-infinity'
);
CREATE INDEX sign_in_failure_last ON historical.sign_in_failure (last_at);

CREATE TABLE historical.sign_in_secret (
    only_one boolean PRIMARY KEY DEFAULT true CHECK (only_one),
    decoy_key bytea NOT NULL CHECK (length(decoy_key) = 32)
);
-- gen_random_uuid() draws on the server's strong random source; two of them, 244 bits
INSERT INTO historical.sign_in_secret (decoy_key)
VALUES (sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')));

ALTER TABLE historical.sign_in_failure OWNER TO deleton_writer;
ALTER TABLE historical.sign_in_secret OWNER TO deleton_writer;
REVOKE ALL ON historical.sign_in_failure, historical.sign_in_secret
    FROM PUBLIC, deleton_reader, deleton_api;

-- The algorithm, parameters and salt of a name's password hash; for a name that has no
-- password (unknown, or signing in by link only) a decoy of the same shape, the same at every
-- call, so that the answer tells nobody which names exist. The parameters are argon2-cffi's
-- defaults, which `deleton users` hashes with (a test holds the two together).
CREATE OR REPLACE FUNCTION historical.password_salt(p_name text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(
        (SELECT regexp_replace(a.password_hash, '\$[^$]*$', '') FROM historical.account a
         WHERE a.name = p_name AND a.password_hash IS NOT NULL),
        '$argon2id$v=19$m=65536,t=3,p=4$' || rtrim(encode(
            substr(sha256(k.decoy_key || convert_to(p_name, 'UTF8')), 1, 16), 'base64'), '='))
    FROM historical.sign_in_secret k
$$;

-- check_password answered any number of guesses in one statement, unthrottled and unseen.
DROP FUNCTION historical.check_password(text, text);

-- A password sign-in: the account's role, and its session started, when p_hash is the hash of
-- its (peppered) password; NULL otherwise. Failures are counted per name, whichever process
-- asks: after 5 within 15 minutes each try must wait twice as long as the one before (1 s,
-- 2 s, ... up to 5 minutes), and a try made sooner is not compared at all: `wait` says how
-- many seconds are left. The name's row is locked first, so tries of one name are judged one
-- at a time and none slips past the count. A success forgets the failures.
CREATE FUNCTION historical.sign_in_password(p_name text, p_hash text, p_session bytea,
                                            p_seconds integer)
RETURNS TABLE (role text, wait double precision)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_key text := lower(p_name);
    v_failures integer;
    v_last timestamptz;
    v_role text;
    v_key_now uuid;
    v_wait double precision;
BEGIN
    IF p_seconds NOT BETWEEN 60 AND 2592000 THEN
        RAISE EXCEPTION 'a session lasts from a minute to 30 days'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO historical.sign_in_failure AS f (name_key) VALUES (v_key)
    ON CONFLICT (name_key) DO UPDATE SET name_key = excluded.name_key
    RETURNING f.failures, f.last_at INTO v_failures, v_last;
    IF v_last < clock_timestamp() - interval '15 minutes' THEN
        v_failures := 0;
    END IF;
    IF v_failures >= 5 THEN
        v_wait := extract(epoch FROM v_last - clock_timestamp())
                  + least(300, 2 ^ (v_failures - 5));
        IF v_wait > 0 THEN
            RETURN QUERY SELECT NULL::text, v_wait;
            RETURN;
        END IF;
    END IF;
    -- the key read with the hash: a password changed after this cannot leave this session on
    SELECT a.role, a.session_key INTO v_role, v_key_now FROM historical.account a
    WHERE a.name = p_name AND a.password_hash = p_hash;
    IF v_role IS NULL THEN
        UPDATE historical.sign_in_failure f SET failures = v_failures + 1,
            last_at = clock_timestamp() WHERE f.name_key = v_key;
        -- names whose failures have lapsed go; any another try holds is left to it
        DELETE FROM historical.sign_in_failure WHERE name_key IN (
            SELECT g.name_key FROM historical.sign_in_failure g
            WHERE g.last_at < clock_timestamp() - interval '15 minutes'
            LIMIT 100 FOR UPDATE SKIP LOCKED);
        RETURN QUERY SELECT NULL::text, 0::double precision;
        RETURN;
    END IF;
    DELETE FROM historical.sign_in_failure f WHERE f.name_key = v_key;
    DELETE FROM historical.dashboard_session s WHERE s.expires_at < now();
    INSERT INTO historical.dashboard_session (digest, name, role, via, account_key, expires_at)
    VALUES (p_session, p_name, v_role, 'password', v_key_now,
            now() + make_interval(secs => p_seconds));
    RETURN QUERY SELECT v_role, 0::double precision;
END $$;

ALTER FUNCTION historical.sign_in_password(text, text, bytea, integer) OWNER TO deleton_writer;
REVOKE ALL ON FUNCTION historical.sign_in_password(text, text, bytea, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION historical.sign_in_password(text, text, bytea, integer)
    TO deleton_reader;
