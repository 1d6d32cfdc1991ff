//! Time windows (cron allow/deny) for promotions.
