#include "gateway/api.hpp"

namespace ordermesh::gateway {

// The one description of the HTTP API. tests/gateway/openapi_test.cpp checks that it describes
// exactly gateway_api::endpoints().
const std::string& openapi_document() {
  static const std::string doc = R"json({
  "openapi": "3.0.3",
  "info": {
    "title": "ordermesh",
    "version": "1.0.0",
    "description": "Orders, inventory and their read models. Every error is application/problem+json (RFC 9457). Every route except health, metrics and this document is rate limited per client (X-Client-Id, else the peer address): 429 with Retry-After."
  },
  "paths": {
    "/orders": {
      "post": {
        "summary": "Place an order; its saga reserves stock, authorizes and captures the payment.",
        "parameters": [
          {"$ref": "#/components/parameters/IdempotencyKey"},
          {"$ref": "#/components/parameters/ClientId"},
          {"name": "wait", "in": "query", "required": false,
           "description": "Wait up to this many milliseconds (at most gateway.max_wait) for the order to finish.",
           "schema": {"type": "integer", "minimum": 0}}
        ],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OrderInput"}}}},
        "responses": {
          "201": {"description": "Confirmed within the wait.", "headers": {"Location": {"$ref": "#/components/headers/Location"}},
                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Placement"}}}},
          "202": {"description": "Accepted: the order is durable and its saga runs. The same key and body return the first answer (header Idempotent-Replayed).",
                  "headers": {"Location": {"$ref": "#/components/headers/Location"}},
                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Placement"}}}},
          "400": {"$ref": "#/components/responses/Problem"},
          "409": {"description": "Rejected within the wait: a line was out of stock (members order_id, order_status, reason).", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
          "413": {"$ref": "#/components/responses/Problem"},
          "415": {"$ref": "#/components/responses/Problem"},
          "422": {"description": "Invalid order (member errors), unknown SKU (member unknown_skus), Idempotency-Key reused with another body, or cancelled within the wait (payment).", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
          "429": {"$ref": "#/components/responses/Retry"},
          "503": {"$ref": "#/components/responses/Retry"},
          "504": {"$ref": "#/components/responses/Problem"}
        }
      },
      "get": {
        "summary": "A customer's orders, newest first, one page at a time (keyset pagination).",
        "parameters": [
          {"$ref": "#/components/parameters/ClientId"},
          {"name": "customer", "in": "query", "required": true, "schema": {"type": "string", "maxLength": 64}},
          {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
          {"name": "cursor", "in": "query", "required": false, "description": "next_cursor of the previous page.", "schema": {"type": "string"}}
        ],
        "responses": {
          "200": {"description": "One page.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OrderPage"}}}},
          "400": {"$ref": "#/components/responses/Problem"},
          "429": {"$ref": "#/components/responses/Retry"},
          "503": {"$ref": "#/components/responses/Retry"}
        }
      }
    },
    "/orders/{id}": {
      "get": {
        "summary": "One order from the read model (cached in Redis; invalidated when it changes).",
        "parameters": [
          {"$ref": "#/components/parameters/ClientId"},
          {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}
        ],
        "responses": {
          "200": {"description": "The order.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}}},
          "404": {"$ref": "#/components/responses/Problem"},
          "429": {"$ref": "#/components/responses/Retry"},
          "503": {"$ref": "#/components/responses/Retry"}
        }
      }
    },
    "/inventory/{sku}/restock": {
      "post": {
        "summary": "Add stock to a SKU (creates the SKU). With an Idempotency-Key a retry is the same restock.",
        "parameters": [
          {"$ref": "#/components/parameters/ClientId"},
          {"name": "sku", "in": "path", "required": true, "schema": {"type": "string", "maxLength": 64}},
          {"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 128}}
        ],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
          "type": "object", "required": ["qty"], "additionalProperties": false,
          "properties": {"qty": {"type": "integer", "minimum": 1, "maximum": 1000000}}}}}},
        "responses": {
          "200": {"description": "The SKU's stock after the restock.", "content": {"application/json": {"schema": {"type": "object",
            "properties": {"sku": {"type": "string"}, "on_hand": {"type": "integer"}, "reserved": {"type": "integer"}, "available": {"type": "integer"}, "version": {"type": "integer"}}}}}},
          "400": {"$ref": "#/components/responses/Problem"},
          "415": {"$ref": "#/components/responses/Problem"},
          "422": {"$ref": "#/components/responses/Problem"},
          "429": {"$ref": "#/components/responses/Retry"},
          "503": {"$ref": "#/components/responses/Retry"},
          "504": {"$ref": "#/components/responses/Problem"}
        }
      }
    },
    "/inventory/{sku}": {
      "get": {
        "summary": "A SKU's stock from the read model (cached in Redis; invalidated when it changes).",
        "parameters": [
          {"$ref": "#/components/parameters/ClientId"},
          {"name": "sku", "in": "path", "required": true, "schema": {"type": "string"}}
        ],
        "responses": {
          "200": {"description": "The stock.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Inventory"}}}},
          "404": {"$ref": "#/components/responses/Problem"},
          "429": {"$ref": "#/components/responses/Retry"},
          "503": {"$ref": "#/components/responses/Retry"}
        }
      }
    },
    "/health/live": {
      "get": {"summary": "The process serves HTTP.", "responses": {"200": {"description": "{\"status\":\"live\"}"}}}
    },
    "/health/ready": {
      "get": {
        "summary": "Ready when PostgreSQL is reachable and the node serves; Redis being down is reported as a degradation, not unreadiness.",
        "responses": {
          "200": {"description": "Ready.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}},
          "503": {"description": "Not ready.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}
        }
      }
    },
    "/metrics": {
      "get": {"summary": "Prometheus text exposition format 0.0.4.", "responses": {"200": {"description": "Metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}}}}
    },
    "/openapi.json": {
      "get": {"summary": "This document.", "responses": {"200": {"description": "OpenAPI 3.", "content": {"application/json": {"schema": {"type": "object"}}}}}}
    }
  },
  "components": {
    "parameters": {
      "IdempotencyKey": {"name": "Idempotency-Key", "in": "header", "required": true,
        "description": "1 to 128 visible ASCII characters. The order id is derived from the client and this key, so a retry is the same order even without Redis.",
        "schema": {"type": "string", "maxLength": 128}},
      "ClientId": {"name": "X-Client-Id", "in": "header", "required": false,
        "description": "Who the request counts against for rate limiting and idempotency; default: the peer address.",
        "schema": {"type": "string", "maxLength": 64}}
    },
    "headers": {
      "Location": {"schema": {"type": "string"}, "description": "/orders/{id}"}
    },
    "responses": {
      "Problem": {"description": "An error.", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
      "Retry": {"description": "Try again after Retry-After seconds.", "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    },
    "schemas": {
      "Problem": {"type": "object", "required": ["type", "title", "status"], "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {"pointer": {"type": "string"}, "detail": {"type": "string"}}}}}},
      "OrderInput": {"type": "object", "required": ["customer_id", "lines", "payment"], "additionalProperties": false, "properties": {
        "customer_id": {"type": "string", "maxLength": 64, "pattern": "^[A-Za-z0-9._:-]+$"},
        "lines": {"type": "array", "minItems": 1, "maxItems": 50, "items": {"$ref": "#/components/schemas/Line"}},
        "payment": {"type": "object", "required": ["card_token", "amount_cents"], "additionalProperties": false, "properties": {
          "card_token": {"type": "string", "maxLength": 128},
          "amount_cents": {"type": "integer", "minimum": 1, "maximum": 1000000000}}}}},
      "Line": {"type": "object", "required": ["sku", "qty"], "additionalProperties": false, "properties": {
        "sku": {"type": "string", "maxLength": 64, "pattern": "^[A-Za-z0-9._:-]+$"},
        "qty": {"type": "integer", "minimum": 1, "maximum": 10000}}},
      "Placement": {"type": "object", "properties": {"order_id": {"type": "string"}, "status": {"type": "string"}}},
      "Order": {"type": "object", "properties": {
        "order_id": {"type": "string"}, "customer_id": {"type": "string"},
        "status": {"type": "string", "enum": ["placed", "reserved", "confirmed", "rejected", "cancelled"]},
        "reason": {"type": "string"}, "amount_cents": {"type": "integer"},
        "lines": {"type": "array", "items": {"$ref": "#/components/schemas/Line"}},
        "placed_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
        "version": {"type": "integer"}}},
      "OrderPage": {"type": "object", "properties": {
        "orders": {"type": "array", "items": {"$ref": "#/components/schemas/Order"}},
        "next_cursor": {"type": "string", "nullable": true}, "next": {"type": "string", "nullable": true}}},
      "Inventory": {"type": "object", "properties": {
        "sku": {"type": "string"}, "on_hand": {"type": "integer"}, "reserved": {"type": "integer"},
        "available": {"type": "integer"}, "version": {"type": "integer"}}},
      "Health": {"type": "object", "properties": {
        "status": {"type": "string", "enum": ["ready", "not_ready"]},
        "checks": {"type": "object"}, "projection_lag": {"type": "integer"},
        "degraded": {"type": "array", "items": {"type": "string"}}}}
    }
  }
})json";
  return doc;
}

} // namespace ordermesh::gateway
