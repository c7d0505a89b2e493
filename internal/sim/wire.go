package sim

import (
	"fmt"

	"github.com/qbind/qbind/consensus"
	"github.com/qbind/qbind/types"
)

// wireMsg is an encoded message (RealCrypto runs): the canonical codec is
// exercised on every hop.
type wireMsg struct {
	kind byte
	b    []byte
}

func (s *Sim) encode(msg consensus.Message) any {
	if !s.cfg.RealCrypto {
		return msg
	}
	switch m := msg.(type) {
	case *types.Proposal:
		return wireMsg{'P', m.Encode()}
	case *types.Vote:
		return wireMsg{'V', m.Encode()}
	case *types.Timeout:
		return wireMsg{'T', m.Encode()}
	case *types.SyncInfo:
		return wireMsg{'S', m.Encode()}
	}
	panic(fmt.Sprintf("sim: cannot encode %T", msg))
}

func (s *Sim) decode(raw any) (consensus.Message, error) {
	w, ok := raw.(wireMsg)
	if !ok {
		return raw, nil
	}
	switch w.kind {
	case 'P':
		return types.DecodeProposal(w.b)
	case 'V':
		return types.DecodeVote(w.b)
	case 'T':
		return types.DecodeTimeout(w.b)
	case 'S':
		si, err := types.DecodeSyncInfo(w.b)
		return &si, err
	}
	return nil, fmt.Errorf("unknown wire kind %q", w.kind)
}
