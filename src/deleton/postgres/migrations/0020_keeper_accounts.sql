-- The dashboard's sign-in tables leave the writer; the operator's login keeps them, through
-- definer functions alone (Issue 17, review 4 Medium; the rest of 0019's design).
--
-- deleton_writer is ingestion's and compression's login, the process that parses every bike's
-- bytes. It owned historical.account, login_link, dashboard_session, screen, sign_in_failure
-- and sign_in_secret (0009, 0010), so whoever took over ingestion could add a dashboard admin,
-- mint a sign-in link or forge a session. Here:
--
--   keeper.account, keeper.login_link, keeper.dashboard_session, keeper.screen,
--   keeper.sign_in_failure, keeper.sign_in_secret
--                        moved with their rows, indexes and constraints into deleton_keeper's
--                        schema, owned by deleton_keeper (which no login is a member of): the
--                        writer owns the schema historical and so could drop anything in it
--                        (0014's lesson), and the operator must not own them either, or its
--                        login could rewrite sessions. No login reads or writes them directly.
--
--   the dashboard's      keeper.password_salt, sign_in_password, consume_login_link,
--   (deleton_reader)     start_session, session_role, end_session, screen_generation: 0009's
--                        and 0010's functions, moved, owned by the keeper, bodies naming
--                        keeper.*; EXECUTE to deleton_reader alone, as before.
--
--   the operator's       one per thing `deleton users`, `login-link` and `screen-link` did with
--   (deleton_operator)   bare statements: keeper.add_account, set_password, remove_account,
--                        accounts (never the hash: whether there is one), add_login_link,
--                        open_screen, revoke_screen. EXECUTE to deleton_operator alone.
--
--   the audit            each of those that changes something, and 0019's create_api_key and
--                        revoke_api_key, appends to keeper.audit inside the function, so no
--                        caller can skip it: key_name = what it acted on (the key's or
--                        account's name; a screen as kind:target), method = the act (CREATE,
--                        REVOKE; ADD, PASSWORD, REMOVE; LINK; OPEN, REVOKE), path = the command
--                        (api-key, users, login-link, screen-link), status = 1 if it happened
--                        else 0, client = session_user. Never a hash, a link or a digest.
--                        Listing (api_keys, accounts) changes nothing and is not recorded.
--
-- After this the writer reaches nothing of sign-in, and no task but ingest and compress needs
-- its secrets (deploy/terraform: the admin task holds the operator's alone).
--
-- Like 0014 and 0019 it needs the administrator (`deleton db init`): it acts as deleton_keeper
-- and hands the keeper tables the writer owns. The administrator must be able to act as both.

RESET ROLE;
DO $$
DECLARE
    v_role text;
BEGIN
    FOREACH v_role IN ARRAY ARRAY['deleton_keeper', 'deleton_writer'] LOOP
        IF NOT pg_has_role(current_user, v_role, 'USAGE') THEN
            BEGIN
                EXECUTE format('GRANT %I TO %I', v_role, current_user);
            EXCEPTION WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'migration 0020 moves the dashboard''s accounts from the writer'
                                ' to deleton_keeper: run `deleton db init` as the administrator'
                    USING ERRCODE = 'insufficient_privilege';
            END;
        END IF;
    END LOOP;
END $$;

-- The writer, as the tables' owner, moves them (ALTER ... SET SCHEMA wants CREATE on the
-- schema they go to: given for this transaction only, taken back below).
SET ROLE deleton_keeper;
GRANT CREATE ON SCHEMA keeper TO deleton_writer;
SET ROLE deleton_writer;
ALTER TABLE historical.account SET SCHEMA keeper;
ALTER TABLE historical.login_link SET SCHEMA keeper;
ALTER TABLE historical.dashboard_session SET SCHEMA keeper;
ALTER TABLE historical.screen SET SCHEMA keeper;
ALTER TABLE historical.sign_in_failure SET SCHEMA keeper;
ALTER TABLE historical.sign_in_secret SET SCHEMA keeper;
ALTER FUNCTION historical.password_salt(text) SET SCHEMA keeper;
ALTER FUNCTION historical.sign_in_password(text, text, bytea, integer) SET SCHEMA keeper;
ALTER FUNCTION historical.consume_login_link(bytea, bytea, integer) SET SCHEMA keeper;
ALTER FUNCTION historical.start_session(bytea, text, text, text, integer) SET SCHEMA keeper;
ALTER FUNCTION historical.session_role(bytea) SET SCHEMA keeper;
ALTER FUNCTION historical.end_session(bytea) SET SCHEMA keeper;
ALTER FUNCTION historical.screen_generation(text, text) SET SCHEMA keeper;

-- As the administrator, who may act as both: the old owner's privileges pass to the new one,
-- so the writer keeps none, and the reader's EXECUTE grants stay, now the keeper's.
RESET ROLE;
ALTER TABLE keeper.account OWNER TO deleton_keeper;
ALTER TABLE keeper.login_link OWNER TO deleton_keeper;
ALTER TABLE keeper.dashboard_session OWNER TO deleton_keeper;
ALTER TABLE keeper.screen OWNER TO deleton_keeper;
ALTER TABLE keeper.sign_in_failure OWNER TO deleton_keeper;
ALTER TABLE keeper.sign_in_secret OWNER TO deleton_keeper;
ALTER FUNCTION keeper.password_salt(text) OWNER TO deleton_keeper;
ALTER FUNCTION keeper.sign_in_password(text, text, bytea, integer) OWNER TO deleton_keeper;
ALTER FUNCTION keeper.consume_login_link(bytea, bytea, integer) OWNER TO deleton_keeper;
ALTER FUNCTION keeper.start_session(bytea, text, text, text, integer) OWNER TO deleton_keeper;
ALTER FUNCTION keeper.session_role(bytea) OWNER TO deleton_keeper;
ALTER FUNCTION keeper.end_session(bytea) OWNER TO deleton_keeper;
ALTER FUNCTION keeper.screen_generation(text, text) OWNER TO deleton_keeper;

SET ROLE deleton_keeper;
REVOKE CREATE ON SCHEMA keeper FROM deleton_writer;
-- the dashboard calls its functions in keeper (and reads no table there)
GRANT USAGE ON SCHEMA keeper TO deleton_reader;

-- --- the dashboard's functions: 0010's bodies, naming the tables where they now are ---------
-- CREATE OR REPLACE keeps each function's owner and grants (EXECUTE: deleton_reader).

CREATE OR REPLACE FUNCTION keeper.password_salt(p_name text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(
        (SELECT regexp_replace(a.password_hash, '\$[^$]*$', '') FROM keeper.account a
         WHERE a.name = p_name AND a.password_hash IS NOT NULL),
        '$argon2id$v=19$m=65536,t=3,p=4$' || rtrim(encode(
            substr(sha256(k.decoy_key || convert_to(p_name, 'UTF8')), 1, 16), 'base64'), '='))
    FROM keeper.sign_in_secret k
$$;

CREATE OR REPLACE FUNCTION keeper.consume_login_link(p_digest bytea, p_session bytea,
                                                     p_seconds integer)
RETURNS TABLE (name text, role text)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH used AS (
        UPDATE keeper.login_link l SET used_at = now()
        FROM keeper.account a
        WHERE l.digest = p_digest AND l.used_at IS NULL AND l.expires_at > now()
          AND a.name = l.name AND p_seconds BETWEEN 60 AND 2592000
        RETURNING a.name, a.role, a.session_key
    ), started AS (
        INSERT INTO keeper.dashboard_session (digest, name, role, via, account_key, expires_at)
        SELECT p_session, u.name, u.role, 'link', u.session_key,
               now() + make_interval(secs => p_seconds)
        FROM used u
    )
    SELECT u.name, u.role FROM used u
$$;

CREATE OR REPLACE FUNCTION keeper.start_session(p_session bytea, p_name text, p_role text,
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
    DELETE FROM keeper.dashboard_session WHERE expires_at < now();
    INSERT INTO keeper.dashboard_session (digest, name, role, via, expires_at)
    VALUES (p_session, p_name, p_role, p_via, now() + make_interval(secs => p_seconds));
END $$;

CREATE OR REPLACE FUNCTION keeper.session_role(p_session bytea) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT s.role FROM keeper.dashboard_session s
    WHERE s.digest = p_session AND s.expires_at > now()
      AND (s.account_key IS NULL OR EXISTS (
          SELECT 1 FROM keeper.account a
          WHERE a.name = s.name AND a.role = s.role AND a.session_key = s.account_key))
$$;

CREATE OR REPLACE FUNCTION keeper.end_session(p_session bytea) RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH ended AS (
        DELETE FROM keeper.dashboard_session WHERE digest = p_session RETURNING 1
    )
    SELECT count(*) > 0 FROM ended
$$;

CREATE OR REPLACE FUNCTION keeper.screen_generation(p_kind text, p_target text) RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT generation FROM keeper.screen
    WHERE kind = p_kind AND target = p_target AND revoked_at IS NULL
$$;

CREATE OR REPLACE FUNCTION keeper.sign_in_password(p_name text, p_hash text, p_session bytea,
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
    INSERT INTO keeper.sign_in_failure AS f (name_key) VALUES (v_key)
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
    SELECT a.role, a.session_key INTO v_role, v_key_now FROM keeper.account a
    WHERE a.name = p_name AND a.password_hash = p_hash;
    IF v_role IS NULL THEN
        UPDATE keeper.sign_in_failure f SET failures = v_failures + 1,
            last_at = clock_timestamp() WHERE f.name_key = v_key;
        -- names whose failures have lapsed go; any another try holds is left to it
        DELETE FROM keeper.sign_in_failure WHERE name_key IN (
            SELECT g.name_key FROM keeper.sign_in_failure g
            WHERE g.last_at < clock_timestamp() - interval '15 minutes'
            LIMIT 100 FOR UPDATE SKIP LOCKED);
        RETURN QUERY SELECT NULL::text, 0::double precision;
        RETURN;
    END IF;
    DELETE FROM keeper.sign_in_failure f WHERE f.name_key = v_key;
    DELETE FROM keeper.dashboard_session s WHERE s.expires_at < now();
    INSERT INTO keeper.dashboard_session (digest, name, role, via, account_key, expires_at)
    VALUES (p_session, p_name, v_role, 'password', v_key_now,
            now() + make_interval(secs => p_seconds));
    RETURN QUERY SELECT v_role, 0::double precision;
END $$;

-- --- the operator's record of what it did -------------------------------------------------

-- One row of keeper.audit for an act of the CLI's (the shape the header gives). Not a definer
-- and granted to no one: only the keeper's own definer functions below call it.
CREATE FUNCTION keeper.record_operator_act(p_subject text, p_act text, p_command text,
                                           p_done boolean)
RETURNS void
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO keeper.audit (key_name, method, path, status, client)
    VALUES (left(p_subject, 80), left(p_act, 16), left(p_command, 2000),
            CASE WHEN p_done THEN 1 ELSE 0 END, left(session_user, 100))
$$;

-- --- the keys, audited (0019 left them as 0014 made them) ---------------------------------
-- CREATE OR REPLACE keeps the owner and the grants (EXECUTE: deleton_operator).

CREATE OR REPLACE FUNCTION keeper.create_api_key(p_name text, p_key_sha256 bytea,
                                                 p_scopes text[])
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_made boolean;
BEGIN
    INSERT INTO keeper.api_key (name, key_sha256, scopes)
    VALUES (p_name, p_key_sha256, p_scopes)
    ON CONFLICT (name) DO NOTHING;
    v_made := FOUND;
    PERFORM keeper.record_operator_act(p_name, 'CREATE', 'api-key', v_made);
    RETURN v_made;
END $$;

CREATE OR REPLACE FUNCTION keeper.revoke_api_key(p_name text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_revoked boolean;
BEGIN
    UPDATE keeper.api_key SET revoked_at = now() WHERE name = p_name AND revoked_at IS NULL;
    v_revoked := FOUND;
    PERFORM keeper.record_operator_act(p_name, 'REVOKE', 'api-key', v_revoked);
    RETURN v_revoked;
END $$;

-- --- the operator's functions: `deleton users`, `login-link`, `screen-link` -----------------

-- A new account (no password: it signs in by link); false when the name is taken (left as it
-- is). The hash is the dashboard's peppered argon2id, made at the CLI.
CREATE FUNCTION keeper.add_account(p_name text, p_role text, p_password_hash text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_added boolean;
BEGIN
    INSERT INTO keeper.account (name, role, password_hash)
    VALUES (p_name, p_role, p_password_hash)
    ON CONFLICT (name) DO NOTHING;
    v_added := FOUND;
    PERFORM keeper.record_operator_act(p_name, 'ADD', 'users', v_added);
    RETURN v_added;
END $$;

-- A new password (NULL: none, by link only) and session key, so every session of the account
-- ends, one being started with the old password at this moment included; its failures are
-- forgotten. False when there is no such account.
CREATE FUNCTION keeper.set_password(p_name text, p_password_hash text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_changed boolean;
BEGIN
    UPDATE keeper.account SET password_hash = p_password_hash, session_key = gen_random_uuid()
    WHERE name = p_name;
    v_changed := FOUND;
    DELETE FROM keeper.dashboard_session
    WHERE name = p_name AND via IN ('password', 'link');
    DELETE FROM keeper.sign_in_failure WHERE name_key = lower(p_name);
    PERFORM keeper.record_operator_act(p_name, 'PASSWORD', 'users', v_changed);
    RETURN v_changed;
END $$;

-- Removes the account (its links go with it) and ends every session under the name, an
-- identity provider's people's included: whether there was an account, how many sessions.
CREATE FUNCTION keeper.remove_account(p_name text)
RETURNS TABLE (removed boolean, ended integer)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM keeper.account a WHERE a.name = p_name;
    removed := FOUND;
    DELETE FROM keeper.dashboard_session s WHERE s.name = p_name;
    GET DIAGNOSTICS ended = ROW_COUNT;
    PERFORM keeper.record_operator_act(p_name, 'REMOVE', 'users', removed OR ended > 0);
    RETURN NEXT;
END $$;

-- Every account, by name: whether it has a password, never the hash.
CREATE FUNCTION keeper.accounts()
RETURNS TABLE (name text, role text, by_password boolean, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT a.name, a.role, a.password_hash IS NOT NULL, a.created_at
    FROM keeper.account a ORDER BY a.name
$$;

-- Records a one-time link (its SHA-256) for the account, valid p_seconds (a minute to a day):
-- when it expires, or NULL when there is no such account. Links dead a day go.
CREATE FUNCTION keeper.add_login_link(p_name text, p_digest bytea, p_seconds integer)
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_expires timestamptz;
BEGIN
    IF p_seconds IS NULL OR p_seconds NOT BETWEEN 60 AND 86400 THEN
        RAISE EXCEPTION 'a sign-in link lasts from a minute to a day'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DELETE FROM keeper.login_link WHERE expires_at < now() - interval '1 day';
    INSERT INTO keeper.login_link (digest, name, expires_at)
    SELECT p_digest, a.name, now() + make_interval(secs => p_seconds)
    FROM keeper.account a WHERE a.name = p_name
    RETURNING expires_at INTO v_expires;
    PERFORM keeper.record_operator_act(p_name, 'LINK', 'login-link', v_expires IS NOT NULL);
    RETURN v_expires;
END $$;

-- The generation a new link of this screen carries: the current one, made on first use, and
-- in force again if the screen had been revoked.
CREATE FUNCTION keeper.open_screen(p_kind text, p_target text) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_generation integer;
BEGIN
    INSERT INTO keeper.screen AS s (kind, target) VALUES (p_kind, p_target)
    ON CONFLICT (kind, target) DO UPDATE SET revoked_at = NULL
    RETURNING s.generation INTO v_generation;
    PERFORM keeper.record_operator_act(p_kind || ':' || p_target, 'OPEN', 'screen-link', true);
    RETURN v_generation;
END $$;

-- Every link made so far of this screen stops working; false when it had none.
CREATE FUNCTION keeper.revoke_screen(p_kind text, p_target text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_revoked boolean;
BEGIN
    UPDATE keeper.screen SET generation = generation + 1, revoked_at = now()
    WHERE kind = p_kind AND target = p_target;
    v_revoked := FOUND;
    PERFORM keeper.record_operator_act(p_kind || ':' || p_target, 'REVOKE', 'screen-link',
                                       v_revoked);
    RETURN v_revoked;
END $$;

REVOKE ALL ON FUNCTION keeper.record_operator_act(text, text, text, boolean),
    keeper.add_account(text, text, text), keeper.set_password(text, text),
    keeper.remove_account(text), keeper.accounts(), keeper.add_login_link(text, bytea, integer),
    keeper.open_screen(text, text), keeper.revoke_screen(text, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION keeper.add_account(text, text, text), keeper.set_password(text, text),
    keeper.remove_account(text), keeper.accounts(), keeper.add_login_link(text, bytea, integer),
    keeper.open_screen(text, text), keeper.revoke_screen(text, text)
    TO deleton_operator;
RESET ROLE;
