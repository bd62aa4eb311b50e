package ui

import (
	"net/http/httptest"
	"testing"
)

// BenchmarkStatusPage renders / for 200 services × 4 environments (a year
// of history behind each) and one service's timeline page.
func BenchmarkStatusPage(b *testing.B) {
	src := bigSource(200, []string{"dev", "qa", "staging", "prod"})
	h := noAuthHandler(b, src)
	for _, bc := range []struct{ name, path string }{
		{"matrix-200x4", "/"},
		{"timeline-365", "/repos/acme/platform-gitops/services/service-042"},
		{"status-json-200x4", "/api/v1/status"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", bc.path, nil))
				if rec.Code != 200 {
					b.Fatalf("code %d", rec.Code)
				}
			}
		})
	}
}
