//go:build tools

// Package tools pins the InfluxDB server and InfluxData's pkg-config wrapper
// so that `go build` can produce both binaries from the Go module proxy.
package tools

import (
	_ "github.com/influxdata/influxdb/v2/cmd/influxd"
	_ "github.com/influxdata/pkg-config"
)
