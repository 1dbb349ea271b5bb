package deps
import (
 _ "github.com/go-sql-driver/mysql"
 _ "github.com/jmoiron/sqlx"
 _ "github.com/sirupsen/logrus"
 _ "github.com/BurntSushi/toml"
 _ "github.com/pressly/goose/v3"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "github.com/prometheus/common/expfmt"
 _ "github.com/x-way/crawlerdetect"
 _ "github.com/medama-io/go-useragent"
 _ "github.com/hashicorp/golang-lru/v2"
 _ "golang.org/x/crypto/bcrypt"
 _ "golang.org/x/sys/unix"
 _ "github.com/chromedp/chromedp"
)
