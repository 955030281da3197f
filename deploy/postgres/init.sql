-- Runs once, when the PostgreSQL data directory is first created (docker-entrypoint-initdb.d).
-- The knowledge base (hangzhou_kb) is POSTGRES_DB; Rasa's conversations get their own database,
-- created here so that several Rasa replicas starting at once do not race to create it.
CREATE DATABASE hangzhou_tracker;
