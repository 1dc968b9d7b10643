package api_test

import (
	"time"

	"github.com/turnin-dev/turnin/api"
)

func cfgProduceTimeout(d time.Duration) api.Config { return api.Config{ProduceTimeout: d} }
