package mysql

import (
	"database/sql"
	"errors"
	"fmt"
	"regexp"

	gomysql "github.com/go-sql-driver/mysql"

	"adnet/models"
)

// MariaDB error numbers that are the caller's to fix (or to retry) rather than bugs.
const (
	erDupEntry          = 1062
	erRowIsReferenced   = 1451
	erRowIsReferenced2  = 1217
	erNoReferencedRow   = 1452
	erNoReferencedRow2  = 1216
	erDataTooLong       = 1406
	erWarnDataOutOfRng  = 1264
	erTruncatedWrongVal = 1366
	erDataTruncated     = 1265
	erConstraintFailed  = 4025
	erLockWaitTimeout   = 1205
	erLockDeadlock      = 1213
)

// constraintMessages turns the names of the schema's unique keys and foreign keys into
// messages for the user who caused the violation. The names are defined in migrations/; the
// map is read-only.
var constraintMessages = map[string]string{
	"uk_users_email":               "a user with this email already exists",
	"uk_advertisers_name":          "an advertiser with this name already exists",
	"uk_campaigns_name":            "this advertiser already has a campaign with this name",
	"uk_creatives_name":            "this campaign already has a creative with this name",
	"uk_publishers_name":           "a publisher with this name already exists",
	"uk_sites_domain":              "a site with this domain already exists",
	"uk_zones_name":                "this site already has a zone with this name",
	"PRIMARY":                      "this entry already exists",
	"fk_users_advertiser":          "advertiser_id: no such advertiser",
	"fk_users_publisher":           "publisher_id: no such publisher",
	"fk_campaigns_advertiser":      "advertiser_id: no such advertiser",
	"fk_creatives_campaign":        "campaign_id: no such campaign",
	"fk_sites_publisher":           "publisher_id: no such publisher",
	"fk_zones_site":                "site_id: no such site",
	"fk_zones_fallback_zone":       "fallback_zone_id: no such zone",
	"fk_zones_fallback_creative":   "fallback_creative_id: no such creative",
	"fk_zone_campaigns_zone":       "zone_id: no such zone",
	"fk_zone_campaigns_campaign":   "campaign_id: no such campaign",
	"ck_users_owner":               "user role and owner do not match",
	"ck_campaigns_window":          "end_at must be after start_at",
	"ck_publishers_revenue_share":  "revenue_share_bp must be between 0 and 10000",
	"ck_ip_lists_range":            "first_ip must not be greater than last_ip",
	"ck_campaigns_targeting_json":  "targeting is not valid JSON",
	"ck_campaigns_weight_positive": "weight must be positive",
}

// Patterns of the server's messages that carry the name of the violated constraint.
var (
	dupKeyRE     = regexp.MustCompile(`for key '(?:[^'.]*\.)?([^']+)'`)
	constraintRE = regexp.MustCompile("CONSTRAINT `([^`]+)`")
	checkRE      = regexp.MustCompile("CONSTRAINT `([^`]+)` failed")
)

// mapError turns a driver error into a *models.Error when it is something the caller can act
// on: a duplicate (ECONFLICT), a reference to a missing parent or a value the schema rejects
// (EINVALID), a lock conflict (EUNAVAILABLE, retry). what names the operation for the message.
// Anything else is wrapped as an internal error, to be logged.
func mapError(err error, what string) error {
	if err == nil {
		return nil
	}
	var me *models.Error
	if errors.As(err, &me) {
		return err
	}
	var ae *gomysql.MySQLError
	if !errors.As(err, &ae) {
		return fmt.Errorf("%s: %w", what, err)
	}
	switch ae.Number {
	case erDupEntry:
		return models.Errorf(models.ECONFLICT, "%s: %s", what, constraintMessage(dupKeyRE, ae.Message, "duplicate entry"))
	case erNoReferencedRow, erNoReferencedRow2:
		return models.Errorf(models.EINVALID, "%s: %s", what, constraintMessage(constraintRE, ae.Message, "refers to a row that does not exist"))
	case erRowIsReferenced, erRowIsReferenced2:
		return models.Errorf(models.ECONFLICT, "%s: still in use by other rows", what)
	case erConstraintFailed:
		return models.Errorf(models.EINVALID, "%s: %s", what, constraintMessage(checkRE, ae.Message, "a value is out of range"))
	case erDataTooLong, erWarnDataOutOfRng, erTruncatedWrongVal, erDataTruncated:
		// The server's text names the column ("Data too long for column 'name' at row 1"):
		// useful to the user and free of internals.
		return models.Errorf(models.EINVALID, "%s: %s", what, ae.Message)
	case erLockWaitTimeout, erLockDeadlock:
		return models.Errorf(models.EUNAVAILABLE, "%s: the database is busy, please try again", what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func constraintMessage(re *regexp.Regexp, serverMsg, fallback string) string {
	if m := re.FindStringSubmatch(serverMsg); m != nil {
		if msg, ok := constraintMessages[m[1]]; ok {
			return msg
		}
	}
	return fallback
}

// notFound maps sql.ErrNoRows to ENOTFOUND naming the entity, and anything else through mapError.
func notFound(err error, kind string, id any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return models.Errorf(models.ENOTFOUND, "%s %v not found", kind, id)
	}
	return mapError(err, "get "+kind)
}
