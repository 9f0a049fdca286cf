-- Restore plans may be staging copies (`wpbackup staging up`).
ALTER TABLE restore_plans
    DROP CONSTRAINT restore_plans_purpose_check,
    ADD CONSTRAINT restore_plans_purpose_check CHECK (purpose IN ('restore', 'drill', 'staging'));
