package models

import "time"

// RollupOptions says what Rollup removes.
type RollupOptions struct {
	// HourlyBefore: stats_hourly and stats_invalid_hourly rows of hours before this are deleted
	// (stats.hourly_retention). The zero time deletes none.
	HourlyBefore time.Time
	// ClicksBefore: click and conversion rows older than this are deleted
	// (stats.click_retention). The zero time deletes none.
	ClicksBefore time.Time
}

// RollupResult counts the rows Rollup deleted.
type RollupResult struct {
	HourlyRows        int64
	InvalidHourlyRows int64
	Clicks            int64
	Conversions       int64
}
