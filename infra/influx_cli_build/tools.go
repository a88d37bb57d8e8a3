//go:build tools

// Package tools pins InfluxData's influx CLI so that `go build` can produce it from the
// Go module proxy.
package tools

import (
	_ "github.com/influxdata/influx-cli/v2/cmd/influx"
)
