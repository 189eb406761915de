// Command chartdoc writes the chart's README.md values table and its
// values.schema.json from values.yaml (package valuesdoc); the chart's test
// fails when either differs. Run from deploy/helm/chartcheck:
//
//	go run ./cmd/chartdoc
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/webcamhub/webcamhub/deploy/helm/chartcheck/valuesdoc"
)

func main() {
	chart := "../webcamhub"
	if len(os.Args) > 1 {
		chart = os.Args[1]
	}
	if err := run(chart); err != nil {
		fmt.Fprintln(os.Stderr, "chartdoc:", err)
		os.Exit(1)
	}
}

func run(chart string) error {
	values, err := os.ReadFile(filepath.Join(chart, "values.yaml"))
	if err != nil {
		return err
	}
	rows, schema, err := valuesdoc.Parse(values)
	if err != nil {
		return err
	}
	schemaJSON, err := valuesdoc.SchemaJSON(schema)
	if err != nil {
		return err
	}
	readmePath := filepath.Join(chart, "README.md")
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		return err
	}
	spliced, err := valuesdoc.Splice(string(readme), valuesdoc.Table(rows))
	if err != nil {
		return err
	}
	if err := os.WriteFile(readmePath, []byte(spliced), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(chart, "values.schema.json"), schemaJSON, 0o644)
}
