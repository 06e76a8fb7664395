package client

import (
	"context"
	"errors"

	"github.com/pluton-go/pluton/go/fault"
	"github.com/pluton-go/pluton/go/remote/natsrpc"
)

// isNotFound reports a serviceNotFound (-30) fault: the key has no local
// socket, so the request may go to NATS.
func isNotFound(err error) bool {
	var f *fault.Fault
	return errors.As(err, &f) && f.Code == fault.ServiceNotFound
}

// callRemote sends r over NATS (docs/remote.md) and fills its response as a
// local exchange would: the data, the answering instance's name, or the
// fault with its code and text.
func (c *Client) callRemote(ctx context.Context, r *Request) outcome {
	c.debug("remote", "key", r.key, "id", r.id, "nats", c.remote.URL())
	resp, err := c.remote.Call(ctx, natsrpc.Request{Key: r.key, Data: r.data, Context: r.context,
		Deadline: r.deadline, Client: c.name, NoWait: r.attrs&NoWaitAttr != 0})
	r.resp.ServiceName = resp.Service
	if err != nil {
		return outcome{err: err}
	}
	r.buf = resp.Data
	r.resp.Data = resp.Data
	return outcome{complete: true}
}
