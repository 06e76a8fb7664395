package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/protocol"
	"github.com/pluton-go/pluton/go/remote/jobs"
	"github.com/pluton-go/pluton/go/servicekey"
)

// Context keys that turn a request sent to the gateway socket into a job
// operation (docs/remote.md, "Jobs through the gateway"). Being in the
// reserved "pluton." namespace, they never reach a service.
const (
	// ContextJobSubmit submits the request as a job of the class named by
	// its service key: the data is the payload, the rest of the context
	// the job's context, the value the job id (empty: a unique one is
	// made). The response data is JSON {"id", "sequence", "duplicate"}.
	ContextJobSubmit = "pluton.jobSubmit"
	// ContextJobResult waits, up to the request's timeout, for the result
	// of the job whose id is the value; the response data is the stored
	// result as JSON (jobs.Result). The service key is not used.
	ContextJobResult = "pluton.jobResult"
)

// GatewaySubmitted is the response data of a ContextJobSubmit operation.
type GatewaySubmitted struct {
	ID        string `json:"id"`
	Sequence  uint64 `json:"sequence"`
	Duplicate bool   `json:"duplicate"`
}

type jobOp int

const (
	opSubmit jobOp = iota + 1
	opResult
)

// jobOperation finds a job operation in a request's context: the
// operation, its job id and the context without the operation's pair.
func jobOperation(raw []byte) (op jobOp, id string, rest []byte, ok bool, err error) {
	if len(raw) == 0 {
		return 0, "", nil, false, nil
	}
	pairs, perr := protocol.ParseContext(raw)
	if perr != nil {
		return 0, "", nil, false, nil // the relay reports a malformed context as it always has
	}
	for _, p := range pairs {
		var this jobOp
		switch p.Key {
		case ContextJobSubmit:
			this = opSubmit
		case ContextJobResult:
			this = opResult
		default:
			rest = protocol.AppendContext(rest, p.Key, p.Value)
			continue
		}
		if ok && this != op {
			return 0, "", nil, false, fault.New(fault.ContextFormatError,
				"both "+ContextJobSubmit+" and "+ContextJobResult+" in one request")
		}
		op, id, ok = this, p.Value, true
	}
	return op, id, rest, ok, nil
}

// gatewayJobs runs the gateway's job operations on JetStream.
type gatewayJobs struct {
	js      jetstream.JetStream
	storage jetstream.StorageType

	mu sync.Mutex
	kv jetstream.KeyValue // set by the first successful Ensure
}

func (g *gatewayJobs) ensure(ctx context.Context) (jetstream.KeyValue, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.kv != nil {
		return g.kv, nil
	}
	kv, err := jobs.Ensure(ctx, g.js, g.storage)
	if err != nil {
		return nil, err
	}
	g.kv = kv
	return kv, nil
}

// do runs one job operation and returns the response data or a fault.
func (g *gatewayJobs) do(ctx context.Context, op jobOp, id, key string, data, jobCtx []byte, budget time.Duration) ([]byte, error) {
	if g == nil {
		return nil, fault.New(fault.ServiceNotFound, "job operations need a manager started with -N")
	}
	switch op {
	case opSubmit:
		if _, err := servicekey.Parse(key); err != nil {
			return nil, fault.New(fault.ServiceKeyBad, fmt.Sprintf("job class: %v", err))
		} else if id != "" {
			if err := jobs.CheckID(id); err != nil {
				return nil, fault.New(fault.ContextFormatError, err.Error())
			}
		}
		if _, err := g.ensure(ctx); err != nil {
			return nil, jobFault(ctx, budget, "job streams", err)
		}
		s, err := jobs.Submit(ctx, g.js, jobs.Job{ID: id, Key: key, Payload: data, Context: jobCtx})
		if err != nil {
			return nil, jobFault(ctx, budget, "submit", err)
		}
		return json.Marshal(GatewaySubmitted{ID: s.ID, Sequence: s.Sequence, Duplicate: s.Duplicate})
	default: // opResult
		if err := jobs.CheckID(id); err != nil {
			return nil, fault.New(fault.ContextFormatError, err.Error())
		}
		kv, err := g.ensure(ctx)
		if err != nil {
			return nil, jobFault(ctx, budget, "job streams", err)
		}
		r, err := jobs.WaitResult(ctx, kv, id)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fault.New(fault.ServiceTimeout, fmt.Sprintf("job %s: no result within %s", id, budget))
			}
			return nil, fault.New(fault.RemoteTransferFailed, fmt.Sprintf("job %s: result: %v", id, err))
		}
		return json.Marshal(r)
	}
}

// jobFault maps a JetStream error: -19 when the budget ran out, else 5
// remoteTransferFailed with the error's text.
func jobFault(ctx context.Context, budget time.Duration, what string, err error) error {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return fault.New(fault.ServiceTimeout, fmt.Sprintf("%s: no answer from JetStream within %s: %v", what, budget, err))
	}
	return fault.New(fault.RemoteTransferFailed, fmt.Sprintf("%s: %v", what, err))
}
