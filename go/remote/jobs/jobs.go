// Package jobs runs Pluton's durable job classes on NATS JetStream, as
// Helios did (docs/remote.md): a job class is a service key whose
// configuration says "jobs true"; Submit enqueues a job (payload, context,
// job id) on a work-queue stream; on every host whose manager serves the
// class a Pump takes jobs and delivers each as a normal request to a local
// instance, and acknowledges it only once the service answered and the
// result is stored under the job id. So delivery is at least once (a job
// whose instance crashes, or that exceeds its TTL, is delivered again) and
// results are exactly once per job id. A job that keeps failing is
// delivered at most jobs-max-attempts times and then published, with its
// last fault, on the class's dead-letter subject.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/pluton-go/pluton/go/remote/natsrpc"
	"github.com/pluton-go/pluton/go/servicekey"
)

// Names of the JetStream assets, created by Ensure.
const (
	// Stream is the work-queue stream holding the jobs not yet acknowledged.
	Stream = "PLUTON_JOBS"
	// DeadStream keeps the dead letters: jobs that ran out of attempts.
	DeadStream = "PLUTON_DEAD"
	// ResultsBucket is the key-value bucket of results, one entry per job id.
	ResultsBucket = "PLUTON_RESULTS"
	// JobPrefix and DeadPrefix start the subjects of jobs and dead letters.
	JobPrefix  = "pluton.job"
	DeadPrefix = "pluton.dead"
)

// Headers of a job message and of a dead letter.
const (
	HeaderJobID     = "Pluton-Job-Id"
	HeaderKey       = "Pluton-Key"
	HeaderAttempts  = "Pluton-Attempts"
	HeaderFaultCode = "Pluton-Fault-Code"
	HeaderFaultText = "Pluton-Fault-Text"
)

// Context keys a job's request carries besides the job's own context.
const (
	ContextJobID   = "plutonJob.id"
	ContextAttempt = "plutonJob.attempt"
)

// DedupWindow is how long the stream remembers a job id: a second Submit
// of the same id within it is dropped (Submitted.Duplicate). After it, the
// result already stored under the id still makes a second run a no-op.
const DedupWindow = 24 * time.Hour

// MaxIDLength bounds a job id.
const MaxIDLength = 200

// JobSubject returns the subject of the jobs of class k.
func JobSubject(k servicekey.Key) string { return JobPrefix + "." + natsrpc.KeySubject(k) }

// DeadSubject returns the dead-letter subject of class k.
func DeadSubject(k servicekey.Key) string { return DeadPrefix + "." + natsrpc.KeySubject(k) }

// CheckID reports whether id can name a job: 1 to MaxIDLength letters,
// digits, '-', '_' or '='.
func CheckID(id string) error {
	if id == "" || len(id) > MaxIDLength {
		return fmt.Errorf("job id %q: must be 1 to %d characters", id, MaxIDLength)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '=') {
			return fmt.Errorf("job id %q: character %q not allowed (letters, digits, '-', '_', '=')", id, c)
		}
	}
	return nil
}

// Ensure creates the jobs stream, the dead-letter stream and the results
// bucket if they do not exist (every manager and Submit may call it).
// storage is jetstream.FileStorage except in tests.
func Ensure(ctx context.Context, js jetstream.JetStream, storage jetstream.StorageType) (jetstream.KeyValue, error) {
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: Stream, Subjects: []string{JobPrefix + ".>"},
		Retention: jetstream.WorkQueuePolicy, Storage: storage, Duplicates: DedupWindow}); err != nil {
		return nil, fmt.Errorf("stream %s: %w", Stream, err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: DeadStream, Subjects: []string{DeadPrefix + ".>"},
		Storage: storage}); err != nil {
		return nil, fmt.Errorf("stream %s: %w", DeadStream, err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: ResultsBucket, Storage: storage})
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", ResultsBucket, err)
	}
	return kv, nil
}

// Job is one job to submit.
type Job struct {
	ID      string // empty: a unique id is made
	Key     string // the job class (service key)
	Payload []byte
	Context []byte // raw context payload (protocol.AppendContext), may be empty
}

// Submitted is Submit's answer.
type Submitted struct {
	ID        string
	Sequence  uint64 // in the jobs stream
	Duplicate bool   // the id was submitted before, within DedupWindow: nothing was enqueued
}

// Submit enqueues a job after Ensure. A job id seen within DedupWindow is
// not enqueued again.
func Submit(ctx context.Context, js jetstream.JetStream, job Job) (Submitted, error) {
	k, err := servicekey.Parse(job.Key)
	if err != nil {
		return Submitted{}, fmt.Errorf("job class: %w", err)
	}
	if job.ID == "" {
		job.ID = nuid.Next()
	}
	if err := CheckID(job.ID); err != nil {
		return Submitted{}, err
	}
	m := nats.NewMsg(JobSubject(k))
	m.Data = job.Payload
	m.Header.Set(jetstream.MsgIDHeader, job.ID)
	m.Header.Set(HeaderJobID, job.ID)
	m.Header.Set(HeaderKey, job.Key)
	if len(job.Context) > 0 {
		m.Header.Set(natsrpc.HeaderContext, natsrpc.EncodeContext(job.Context))
	}
	ack, err := js.PublishMsg(ctx, m)
	if err != nil {
		return Submitted{}, fmt.Errorf("submit job %s to %s: %w", job.ID, job.Key, err)
	}
	return Submitted{ID: job.ID, Sequence: ack.Sequence, Duplicate: ack.Duplicate}, nil
}

// Result is the outcome of a job, stored once under its id.
type Result struct {
	ID        string    `json:"id"`
	Key       string    `json:"key"`
	OK        bool      `json:"ok"`
	Data      []byte    `json:"data,omitempty"`      // the service's response (base64 in JSON)
	FaultCode int64     `json:"faultCode,omitempty"` // the last fault of a failed job
	FaultText string    `json:"faultText,omitempty"`
	Attempts  int       `json:"attempts"`
	Host      string    `json:"host"`
	Service   string    `json:"service,omitempty"` // the instance that answered
	Finished  time.Time `json:"finished"`
}

// GetResult returns the result of job id; errors.Is(err,
// jetstream.ErrKeyNotFound) while it has none.
func GetResult(ctx context.Context, kv jetstream.KeyValue, id string) (Result, error) {
	e, err := kv.Get(ctx, id)
	if err != nil {
		return Result{}, err
	}
	var r Result
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return Result{}, fmt.Errorf("result %s: %w", id, err)
	}
	return r, nil
}

// WaitResult waits until job id has a result, or ctx ends.
func WaitResult(ctx context.Context, kv jetstream.KeyValue, id string) (Result, error) {
	w, err := kv.Watch(ctx, id)
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return Result{}, ctx.Err()
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			var r Result
			if err := json.Unmarshal(e.Value(), &r); err != nil {
				return Result{}, fmt.Errorf("result %s: %w", id, err)
			}
			return r, nil
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
}

// storeResult writes r under its id unless a result is already there; it
// reports whether this call stored it.
func storeResult(ctx context.Context, kv jetstream.KeyValue, r Result) (bool, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	if _, err := kv.Create(ctx, r.ID, b); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return false, nil
		}
		return false, fmt.Errorf("store result %s: %w", r.ID, err)
	}
	return true, nil
}
