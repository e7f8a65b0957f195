-- No service login may create anything in schema public, nor find what is there by name.
--
-- PostgreSQL 14 and before grant CREATE on schema public to PUBLIC, and a database made by 14
-- keeps that grant through every upgrade; our RDS may run 14. Every login could then put a
-- function or an aggregate in public, and every unqualified name another login's SQL calls
-- resolves there too, under "$user", public: daily.ride_figures (0013) is plain SQL with no
-- search_path of its own and calls last_value(...) OVER, so an aggregate
-- public.last_value(double precision), planted by the reader's login, matched closer than
-- pg_catalog's polymorphic one and ran, as the writer, when compression summarised rides: it
-- made itself a key of every scope with keeper.create_api_key. Here:
--
--   REVOKE CREATE ON SCHEMA public FROM PUBLIC    what 15 does for new databases
--   a check                 no service role (deleton_writer, _reader, _api, _keeper) and no
--                           login of theirs may CREATE in any schema but its own (the writer
--                           in daily and historical, the keeper in keeper), by a grant to
--                           PUBLIC or any other; if the REVOKE above could not take (public
--                           owned by a role other than whoever migrates, as on RDS), the
--                           migration fails and says who must run what
--   search_path             each service login's is pg_catalog, pg_temp, so an unqualified
--                           name never resolves in public whatever is there; the logins made
--                           later get it from schema.ensure_logins (LOGIN_SEARCH_PATH). Our
--                           SQL names every table and function with its schema.
--
-- All of it needs the administrator (`deleton db init`): the writer's login, migrating as it
-- starts, is refused and told so, as by 0014.

RESET ROLE;
DO $$
BEGIN
    -- the administrator is a member of deleton_keeper since 0012; a service login never is
    IF NOT pg_has_role(current_user, 'deleton_keeper', 'USAGE') THEN
        BEGIN
            EXECUTE format('GRANT deleton_keeper TO %I', current_user);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'migration 0018 revokes CREATE on schema public and sets the'
                            ' service logins'' search_path: run `deleton db init` as the'
                            ' administrator'
                USING ERRCODE = 'insufficient_privilege';
        END;
    END IF;
END $$;

-- Only public's owner (or a member of it) can; anyone else gets a warning and changes
-- nothing, which the check below then names.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

DO $$
DECLARE
    groups CONSTANT text[] := ARRAY['deleton_writer', 'deleton_reader', 'deleton_api',
                                    'deleton_keeper'];
    offenders text;
    public_owner text;
    item record;
BEGIN
    -- The service roles and their logins: every member of a service role but the
    -- administrators (superusers, and whoever migrates, a member of the keeper's role).
    CREATE TEMPORARY TABLE service_role ON COMMIT DROP AS
        SELECT r.oid, r.rolname, r.rolcanlogin FROM pg_roles r
        WHERE r.rolname = ANY (groups)
           OR (EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                       WHERE m.member = r.oid AND g.rolname = ANY (groups))
               AND NOT r.rolsuper AND r.rolname <> current_user
               AND NOT pg_has_role(r.oid, 'deleton_keeper', 'MEMBER'));
    SELECT string_agg(format('%I in %I', s.rolname, n.nspname), ', '
                      ORDER BY s.rolname, n.nspname)
      INTO offenders
      FROM service_role s CROSS JOIN pg_namespace n
     WHERE n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
       AND has_schema_privilege(s.oid, n.oid, 'CREATE')
       AND NOT (n.nspname IN ('daily', 'historical')
                AND pg_has_role(s.oid, 'deleton_writer', 'USAGE'))
       AND NOT (n.nspname = 'keeper' AND s.rolname = 'deleton_keeper');
    IF offenders IS NOT NULL THEN
        SELECT pg_get_userbyid(nspowner) INTO public_owner FROM pg_namespace
         WHERE nspname = 'public';
        RAISE EXCEPTION 'migration 0018: service roles may create objects where other'
                        ' logins would run them: %', offenders
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('as %I, the owner of schema public (on RDS, the master user'
                                ' or rds_superuser), run REVOKE CREATE ON SCHEMA public FROM'
                                ' PUBLIC, and REVOKE CREATE ON SCHEMA <schema> FROM <role> for'
                                ' any other grant named; then `deleton db init` again',
                                public_owner);
    END IF;
    FOR item IN SELECT rolname FROM service_role WHERE rolcanlogin LOOP
        EXECUTE format('ALTER ROLE %I SET search_path = pg_catalog, pg_temp', item.rolname);
    END LOOP;
END $$;
