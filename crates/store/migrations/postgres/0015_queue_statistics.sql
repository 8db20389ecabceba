-- The campaign queue's tables grow by a million rows in a minute when a
-- campaign launches to a large audience. With the default thresholds (a
-- tenth of the table) their statistics lag far behind, and the planner reads
-- a whole state's worth of rows to find a batch's thousand (0.2 s a
-- statement). Analysed after each 2% of growth instead.
ALTER TABLE traces SET (autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 5000);
ALTER TABLE participants SET (autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 5000);
ALTER TABLE messages SET (autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 5000);
