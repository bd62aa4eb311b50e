package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/promobot/promobot/internal/queue"
)

// Raw JetStream publishing, for comparison.

type rawResult struct {
	name    string
	n       int
	elapsed time.Duration
	cpu     time.Duration
	procs   []proc
	procCPU [2]cpuSnap
}

func (r rawResult) print() {
	fmt.Printf("%s: %d msgs in %.2fs = %.0f msgs/s; generator process CPU %.1f µs per msg\n",
		r.name, r.n, r.elapsed.Seconds(), float64(r.n)/r.elapsed.Seconds(), float64(r.cpu.Microseconds())/float64(max(r.n, 1)))
	printCPU(r.procs, r.procCPU[0], r.procCPU[1], r.n, "msg")
}

type rawResults []rawResult

func (rs rawResults) print() {
	for _, r := range rs {
		r.print()
	}
}

const benchStream = "WEBHOOKLOAD_RAW"

// rawPublish measures, on the server at natsURL, a stream configured like
// the intent stream (file storage, work-queue retention, 24 h duplicate
// window, message ids): (1) one publisher pipelining 7 KB PublishAsync
// messages with up to 4096 acks outstanding, (2) o.conc goroutines each
// publishing one 7 KB message at a time through queue-style
// PublishMsgAsync + wait, as the handler does.
func rawPublish(ctx context.Context, natsURL string, o options, procs []proc) (rawResults, error) {
	nc, err := nats.Connect(natsURL, nats.Name("webhookload-raw"))
	if err != nil {
		return nil, fmt.Errorf("raw: connect: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return nil, fmt.Errorf("raw: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := js.CreateOrUpdateStream(sctx, jetstream.StreamConfig{
		Name: benchStream, Subjects: []string{"webhookload.raw.>"}, Storage: jetstream.FileStorage,
		Retention: jetstream.WorkQueuePolicy, Duplicates: 24 * time.Hour,
	}); err != nil {
		return nil, fmt.Errorf("raw: stream: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = js.DeleteStream(dctx, benchStream) // best effort: the data dir is temporary or the operator's
	}()
	data := bytes.Repeat([]byte("x"), 7<<10)
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	var out rawResults

	// (1) pipelined.
	snap0 := snapCPU(procs)
	cpu0, start := cpuTime(), time.Now()
	deadline := start.Add(o.rawDur)
	n := 0
	for time.Now().Before(deadline) && ctx.Err() == nil {
		// Check the clock every 256 messages only.
		for i := 0; i < 256; i++ {
			_, err := js.PublishAsync("webhookload.raw.pipelined", data,
				jetstream.WithMsgID("p-"+run+"-"+strconv.Itoa(n)), jetstream.WithStallWait(10*time.Second))
			if err != nil {
				return nil, fmt.Errorf("raw: publish: %w", err)
			}
			n++
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		return nil, errors.New("raw: acks did not arrive within a minute")
	}
	out = append(out, rawResult{"raw JetStream PublishAsync, pipelined (1 publisher, <=4096 pending), 7 KB", n, time.Since(start), cpuTime() - cpu0,
		procs, [2]cpuSnap{snap0, snapCPU(procs)}})

	// (2) concurrent, one message per caller at a time.
	var total atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	snap0 = snapCPU(procs)
	cpu0, start = cpuTime(), time.Now()
	deadline = start.Add(o.rawDur)
	wg.Add(o.conc)
	for w := 0; w < o.conc; w++ {
		go func(w int) {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				m := &nats.Msg{Subject: "webhookload.raw.each", Data: data, Header: nats.Header{
					jetstream.MsgIDHeader: {"e-" + run + "-" + strconv.Itoa(w) + "-" + strconv.Itoa(i)}}}
				f, err := js.PublishMsgAsync(m, jetstream.WithStallWait(10*time.Second))
				if err != nil {
					failed.Add(1)
					continue
				}
				select {
				case <-f.Ok():
					total.Add(1)
				case <-f.Err():
					failed.Add(1)
				}
			}
		}(w)
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		return nil, fmt.Errorf("raw: %d concurrent publishes failed", f)
	}
	out = append(out, rawResult{fmt.Sprintf("raw JetStream PublishMsgAsync + wait, %d concurrent callers, 7 KB", o.conc),
		int(total.Load()), time.Since(start), cpuTime() - cpu0, procs, [2]cpuSnap{snap0, snapCPU(procs)}})
	return out, nil
}

// streamMsgs counts the messages in the intent stream.
func streamMsgs(ctx context.Context, natsURL string) (uint64, error) {
	nc, err := nats.Connect(natsURL, nats.Name("webhookload-check"))
	if err != nil {
		return 0, fmt.Errorf("check: connect: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, fmt.Errorf("check: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, queue.DefaultStream)
	if err != nil {
		return 0, fmt.Errorf("check: stream: %w", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("check: stream: %w", err)
	}
	return info.State.Msgs, nil
}
