package monitoring

import (
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

func TestParserLinks(t *testing.T) {
	if _, err := parser.ParseExpr("up"); err != nil {
		t.Fatal(err)
	}
}
