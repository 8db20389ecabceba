-- PostgreSQL only (its planner statistics of the campaign queue); SQLite
-- plans these queries from its indexes alone.
SELECT 1;
