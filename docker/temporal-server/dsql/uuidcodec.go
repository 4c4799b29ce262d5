package dsql

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// registerTypes runs after every new connection:
//   - UUID parameters accept Temporal's byte-slice ids (primitives.UUID, []byte) of 16
//     bytes; an empty slice is sent as the nil UUID (all zeros), which sorts first, so
//     "id > <empty>" pagination starts at the beginning as it did with BYTEA;
//   - time.Duration is sent as bigint nanoseconds, as upstream's pgx driver does.
func registerTypes(_ context.Context, c *pgx.Conn) error {
	c.TypeMap().RegisterType(&pgtype.Type{Name: "uuid", OID: pgtype.UUIDOID, Codec: bytesUUIDCodec{}})
	c.TypeMap().RegisterDefaultPgType(time.Duration(0), "int8")
	c.TypeMap().RegisterDefaultPgType((*time.Duration)(nil), "int8")
	return nil
}

type bytesUUIDCodec struct{ pgtype.UUIDCodec }

func (c bytesUUIDCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if _, ok := byteSlice(value); ok {
		return bytesUUIDPlan{format: format}
	}
	return c.UUIDCodec.PlanEncode(m, oid, format, value)
}

func byteSlice(v any) ([]byte, bool) {
	if b, ok := v.([]byte); ok {
		return b, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
		return rv.Bytes(), true
	}
	return nil, false
}

type bytesUUIDPlan struct{ format int16 }

func (p bytesUUIDPlan) Encode(value any, buf []byte) ([]byte, error) {
	b, _ := byteSlice(value)
	var u [16]byte
	switch len(b) {
	case 0:
	case 16:
		copy(u[:], b)
	default:
		return nil, fmt.Errorf("dsql: a UUID key must be 16 bytes, got %d bytes", len(b))
	}
	if p.format == pgtype.BinaryFormatCode {
		return append(buf, u[:]...), nil
	}
	return append(buf, pgtype.UUID{Bytes: u, Valid: true}.String()...), nil
}
