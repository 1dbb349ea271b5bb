package mysql_test

import (
	"testing"

	"adnet/models/mysql/mysqltest"
)

func TestMain(m *testing.M) { mysqltest.Main(m) }
