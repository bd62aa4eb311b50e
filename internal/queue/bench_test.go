package queue

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkPublish measures the raw JetStream publish rate through
// Queue.Publish on an embedded server with file storage: serial (one
// webhook at a time, one intent each), parallel (concurrent webhooks, one
// intent each) and batch (one webhook with 100 intents).
func BenchmarkPublish(b *testing.B) {
	for _, size := range []int{1 << 10, 7 << 10} {
		for _, mode := range []struct {
			name     string
			batch    int
			parallel bool
		}{{"serial", 1, false}, {"parallel", 1, true}, {"batch100", 100, false}} {
			b.Run(fmt.Sprintf("%dKB/%s", size>>10, mode.name), func(b *testing.B) {
				q, _ := newQueue(b, Config{})
				data := bytes.Repeat([]byte("x"), size)
				var seq atomic.Int64
				next := func(n int) []Message {
					msgs := make([]Message, n)
					for i := range msgs {
						id := seq.Add(1)
						msgs[i] = Message{Subject: fmt.Sprintf("promobot.intents.r.s%d.dev", id%16), ID: fmt.Sprintf("bench:%d", id), Data: data}
					}
					return msgs
				}
				ctx := context.Background()
				b.SetBytes(int64(size * mode.batch))
				b.ResetTimer()
				start := time.Now()
				if mode.parallel {
					b.SetParallelism(8)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := q.Publish(ctx, next(mode.batch)); err != nil {
								b.Error(err)
								return
							}
						}
					})
				} else {
					for b.Loop() {
						if err := q.Publish(ctx, next(mode.batch)); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(seq.Load())/time.Since(start).Seconds(), "msgs/s")
			})
		}
	}
}
