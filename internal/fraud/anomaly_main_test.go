package fraud_test

import (
	"testing"

	"adnet/models/mysql/mysqltest"
)

// TestMain gives the anomaly scanner's tests a real MariaDB (started only if a test asks for a
// database; the pure tests of the package never do).
func TestMain(m *testing.M) { mysqltest.Main(m) }
