-- What the security review of sign-in found (README: Who may see what), put right in the
-- database; 0009 stays as it was applied.
--
--   historical.dashboard_session   every person's dashboard session, by the SHA-256 of its id
--                                  (the id travels in the signed cookie): signing out deletes
--                                  it, so a copy of the cookie stops working; `deleton users
--                                  remove` deletes a name's sessions
--
-- The dashboard's login, deleton_reader, still reads none of these tables: it calls the
-- definer functions below, granted to it alone.

CREATE TABLE historical.dashboard_session (
    digest bytea PRIMARY KEY CHECK (length(digest) = 32),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role text NOT NULL CHECK (role IN ('staff', 'admin')),
    via text NOT NULL CHECK (via IN ('password', 'link', 'oidc', 'alb')),
    started_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX dashboard_session_name ON historical.dashboard_session (name);
CREATE INDEX dashboard_session_expires ON historical.dashboard_session (expires_at);
ALTER TABLE historical.dashboard_session OWNER TO deleton_writer;
REVOKE ALL ON historical.dashboard_session FROM PUBLIC, deleton_reader, deleton_api;

-- A session is asked for by its digest alone, so the reader cannot list them.
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
        RETURNING a.name, a.role
    ), started AS (
        INSERT INTO historical.dashboard_session (digest, name, role, via, expires_at)
        SELECT p_session, u.name, u.role, 'link', now() + make_interval(secs => p_seconds)
        FROM used u
    )
    SELECT u.name, u.role FROM used u
$$;

-- The session of a person signed in another way (a password checked by the dashboard, an
-- identity provider, the load balancer's header), for p_seconds; sessions long over go.
CREATE FUNCTION historical.start_session(p_session bytea, p_name text, p_role text,
                                         p_via text, p_seconds integer)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_seconds NOT BETWEEN 60 AND 2592000 THEN
        RAISE EXCEPTION 'a session lasts from a minute to 30 days'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DELETE FROM historical.dashboard_session WHERE expires_at < now();
    INSERT INTO historical.dashboard_session (digest, name, role, via, expires_at)
    VALUES (p_session, p_name, p_role, p_via, now() + make_interval(secs => p_seconds));
END $$;

-- The role of a session now; NULL when it was signed out, is over, or its account was removed
-- or given another role.
CREATE FUNCTION historical.session_role(p_session bytea) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT s.role FROM historical.dashboard_session s
    WHERE s.digest = p_session AND s.expires_at > now()
      AND (s.via IN ('oidc', 'alb') OR EXISTS (
          SELECT 1 FROM historical.account a WHERE a.name = s.name AND a.role = s.role))
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
