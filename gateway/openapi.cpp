#include "gateway/api.hpp"

#include "actors/order/messages.hpp"
#include "psp/client/card_tokens.hpp"

#include <nlohmann/json.hpp>

namespace ordermesh::gateway {

namespace {

/// What a client may send as card token, from the stand-in's own table (psp/client/card_tokens.hpp), so
/// that the document cannot drift from what the payment step accepts.
std::string card_token_description() {
  std::string text = "The PSP's token for the card: " + std::string{psp::card_token_rule} +
                     " (anything else is refused here with 422, since the PSP could never "
                     "accept it). Test tokens of the PSP stand-in (ordermesh psp):";
  for (const auto& card : psp::test_cards) {
    text += " `" + std::string{card.example} + "` (any token beginning with `" +
            std::string{card.prefix} + "`): " + std::string{card.description} + ";";
  }
  text.back() = '.';
  return text + " The stand-in's fault knobs (psp.decline_rate, psp.failure_rate, ...) change "
                "outcomes on purpose.";
}

} // namespace

// The one description of the HTTP API. tests/gateway/api_unit_test.cpp checks that it describes
// exactly gateway_api::endpoints(), and tests/gateway (gateway_openapi_lint) that it passes
// Redocly CLI's recommended rules.
const std::string& openapi_document() {
  static const std::string doc = [] {
    auto doc = nlohmann::ordered_json::parse(R"json({
  "openapi": "3.0.3",
  "info": {
    "title": "ordermesh",
    "version": "1.0.0",
    "description": "Orders, inventory and their read models. Every error is application/problem+json (RFC 9457). Who a request counts against (rate limits, idempotency keys): the client named by its API key (Authorization: Bearer <key> or X-Api-Key; a wrong key is 401), else X-Client-Id when the gateway is configured behind a proxy that sets it (gateway.trusted_proxy), else the peer address. Every route except health, metrics and this document is rate limited per client: 429 with Retry-After. A body must be one JSON object without duplicate member names (400).",
    "license": {"name": "No license has been granted yet: all rights reserved", "url": "https://choosealicense.com/no-permission/"}
  },
  "paths": {
    "/orders": {
      "post": {
        "operationId": "placeOrder",
        "summary": "Place an order; its saga takes every line's stock, then sells (authorizes and captures the payment in one step).",
        "parameters": [
          {"$ref": "#/components/parameters/IdempotencyKey"},
          {"$ref": "#/components/parameters/ClientId"},
          {
            "name": "wait",
            "in": "query",
            "required": false,
            "description": "Wait up to this many milliseconds (at most gateway.max_wait) for the order to finish.",
            "schema": {"type": "integer", "minimum": 0}
          }
        ],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {"$ref": "#/components/schemas/OrderInput"},
              "example": {
                "customer_id": "customer-42",
                "lines": [{"sku": "apple", "qty": 2}, {"sku": "pear", "qty": 1}],
                "payment": {"card_token": "tok_visa", "amount_cents": 1250}
              }
            }
          }
        },
        "responses": {
          "201": {
            "description": "Confirmed within the wait.",
            "headers": {"Location": {"$ref": "#/components/headers/Location"}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Placement"}}}
          },
          "202": {
            "description": "Accepted: the order is durable and its saga runs. The same key and body return the first answer (header Idempotent-Replayed).",
            "headers": {"Location": {"$ref": "#/components/headers/Location"}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Placement"}}}
          },
          "400": {
            "description": "Malformed JSON, a duplicate member name, a missing or invalid Idempotency-Key, or a bad wait.",
            "content": {
              "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }
          },
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "409": {
            "description": "Rejected within the wait: a line was out of stock (members order_id, order_status, reason).",
            "content": {
              "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }
          },
          "413": {"$ref": "#/components/responses/Problem"},
          "415": {"$ref": "#/components/responses/Problem"},
          "422": {
            "description": "Invalid order (member errors: a JSON pointer per field, e.g. /payment/card_token for a token the PSP can never accept), Idempotency-Key reused with another body, cancelled within the wait (payment), or rejected within the wait because the inventory never stocked a line's SKU (type urn:ordermesh:problem:unknown-sku, members unknown_skus naming that SKU, order_id, order_status, reason). An order for an unknown SKU is accepted like any other: without a wait it is answered 202 and ends rejected with reason `unknown_sku: <sku>`.",
            "content": {
              "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }
          },
          "429": {"$ref": "#/components/responses/Retry"},
          "503": {"$ref": "#/components/responses/Retry"},
          "504": {"$ref": "#/components/responses/Problem"}
        }
      },
      "get": {
        "operationId": "listOrders",
        "summary": "A customer's orders, newest first, one page at a time (keyset pagination).",
        "parameters": [
          {"$ref": "#/components/parameters/ClientId"},
          {
            "name": "customer",
            "in": "query",
            "required": true,
            "schema": {"type": "string", "maxLength": 64},
            "example": "customer-42"
          },
          {
            "name": "limit",
            "in": "query",
            "required": false,
            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
          },
          {
            "name": "cursor",
            "in": "query",
            "required": false,
            "description": "next_cursor of the previous page.",
            "schema": {"type": "string"}
          }
        ],
        "responses": {
          "200": {
            "description": "One page.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OrderPage"}}}
          },
          "400": {"$ref": "#/components/responses/Problem"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "429": {"$ref": "#/components/responses/Retry"},
          "503": {"$ref": "#/components/responses/Retry"}
        }
      }
    },
    "/orders/{id}": {
      "get": {
        "operationId": "getOrder",
        "summary": "One order from the read model (cached in Redis; invalidated when it changes).",
        "parameters": [
          {"$ref": "#/components/parameters/ClientId"},
          {
            "name": "id",
            "in": "path",
            "required": true,
            "schema": {"type": "string"},
            "example": "o3f1c0de5a9b2e4c7d8f9a0b1c2d3e4f5"
          }
        ],
        "responses": {
          "200": {
            "description": "The order.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}}
          },
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/Problem"},
          "429": {"$ref": "#/components/responses/Retry"},
          "503": {"$ref": "#/components/responses/Retry"}
        }
      }
    },
    "/inventory/{sku}/restock": {
      "post": {
        "operationId": "restockSku",
        "summary": "Add stock to a SKU (creates the SKU). With an Idempotency-Key a retry is the same restock.",
        "parameters": [
          {"$ref": "#/components/parameters/ClientId"},
          {
            "name": "sku",
            "in": "path",
            "required": true,
            "schema": {"type": "string", "maxLength": 64},
            "example": "apple"
          },
          {
            "name": "Idempotency-Key",
            "in": "header",
            "required": false,
            "schema": {"type": "string", "maxLength": 128},
            "example": "restock-apple-2026-12-04",
            "description": "1 to 128 visible ASCII characters; a retry with the same key restocks once."
          }
        ],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "type": "object",
                "required": ["qty"],
                "additionalProperties": false,
                "properties": {"qty": {"type": "integer", "minimum": 1, "maximum": 1000000}}
              },
              "example": {"qty": 100}
            }
          }
        },
        "responses": {
          "200": {
            "description": "The SKU's stock after the restock.",
            "content": {
              "application/json": {
                "schema": {"$ref": "#/components/schemas/Inventory"}
              }
            }
          },
          "400": {"$ref": "#/components/responses/Problem"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
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
        "operationId": "getInventory",
        "summary": "A SKU's stock from the read model (cached in Redis; invalidated when it changes).",
        "parameters": [
          {"$ref": "#/components/parameters/ClientId"},
          {
            "name": "sku",
            "in": "path",
            "required": true,
            "schema": {"type": "string"},
            "example": "apple"
          }
        ],
        "responses": {
          "200": {
            "description": "The stock.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Inventory"}}}
          },
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/Problem"},
          "429": {"$ref": "#/components/responses/Retry"},
          "503": {"$ref": "#/components/responses/Retry"}
        }
      }
    },
    "/health/live": {
      "get": {
        "operationId": "getLiveness",
        "summary": "The process serves HTTP.",
        "responses": {
          "200": {"description": "{\"status\":\"live\"}"},
          "400": {"$ref": "#/components/responses/MalformedHttp"}
        },
        "security": []
      }
    },
    "/health/ready": {
      "get": {
        "operationId": "getReadiness",
        "summary": "Ready when PostgreSQL is reachable and the node serves; Redis being down is reported as a degradation, not unreadiness.",
        "responses": {
          "200": {
            "description": "Ready.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}
          },
          "503": {
            "description": "Not ready.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}
          },
          "400": {"$ref": "#/components/responses/MalformedHttp"}
        },
        "security": []
      }
    },
    "/metrics": {
      "get": {
        "operationId": "getMetrics",
        "summary": "Prometheus text exposition format 0.0.4.",
        "responses": {
          "200": {
            "description": "Metrics.",
            "content": {"text/plain": {"schema": {"type": "string"}}}
          },
          "400": {"$ref": "#/components/responses/MalformedHttp"}
        },
        "security": []
      }
    },
    "/openapi.json": {
      "get": {
        "operationId": "getOpenApiDocument",
        "summary": "This document.",
        "responses": {
          "200": {
            "description": "OpenAPI 3.",
            "content": {"application/json": {"schema": {"type": "object"}}}
          },
          "400": {"$ref": "#/components/responses/MalformedHttp"}
        },
        "security": []
      }
    }
  },
  "components": {
    "parameters": {
      "IdempotencyKey": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": true,
        "description": "1 to 128 visible ASCII characters. The order id is derived from the client and this key, so a retry is the same order even without Redis.",
        "schema": {"type": "string", "maxLength": 128},
        "example": "order-2026-0001"
      },
      "ClientId": {
        "name": "X-Client-Id",
        "in": "header",
        "required": false,
        "description": "Who the request counts against, set by a proxy in front of the gateway: trusted only when the gateway is configured so (gateway.trusted_proxy), otherwise ignored. An API key takes precedence.",
        "schema": {"type": "string", "maxLength": 64}
      }
    },
    "headers": {"Location": {"schema": {"type": "string"}, "description": "/orders/{id}"}},
    "responses": {
      "Problem": {
        "description": "An error.",
        "content": {
          "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
      },
      "Retry": {
        "description": "Try again after Retry-After seconds.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        "content": {
          "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
      },
      "Unauthorized": {
        "description": "The API key is not known, or Authorization is not \"Bearer <key>\".",
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
        "content": {
          "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
      },
      "MalformedHttp": {
        "description": "Not a valid HTTP request (answered before routing).",
        "content": {
          "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
      }
    },
    "schemas": {
      "Problem": {
        "type": "object",
        "required": ["type", "title", "status"],
        "properties": {
          "type": {"type": "string"},
          "title": {"type": "string"},
          "status": {"type": "integer"},
          "detail": {"type": "string"},
          "instance": {"type": "string"},
          "errors": {
            "type": "array",
            "items": {
              "type": "object",
              "properties": {"pointer": {"type": "string"}, "detail": {"type": "string"}}
            }
          }
        }
      },
      "OrderInput": {
        "type": "object",
        "required": ["customer_id", "lines", "payment"],
        "additionalProperties": false,
        "properties": {
          "customer_id": {"type": "string", "maxLength": 64, "pattern": "^[A-Za-z0-9._:-]+$"},
          "lines": {
            "type": "array",
            "minItems": 1,
            "maxItems": 50,
            "items": {"$ref": "#/components/schemas/Line"}
          },
          "payment": {
            "type": "object",
            "required": ["card_token", "amount_cents"],
            "additionalProperties": false,
            "properties": {
              "card_token": {"type": "string", "pattern": "^tok_[A-Za-z0-9_]{1,64}$", "description": "(filled in by openapi.cpp from psp/client/card_tokens.hpp)"},
              "amount_cents": {"type": "integer", "minimum": 1, "maximum": 1000000000}
            }
          }
        }
      },
      "Line": {
        "type": "object",
        "required": ["sku", "qty"],
        "additionalProperties": false,
        "properties": {
          "sku": {"type": "string", "maxLength": 64, "pattern": "^[A-Za-z0-9._:-]+$"},
          "qty": {"type": "integer", "minimum": 1, "maximum": 10000}
        }
      },
      "Placement": {
        "type": "object",
        "properties": {"order_id": {"type": "string"}, "status": {"type": "string"}}
      },
      "Order": {
        "type": "object",
        "properties": {
          "order_id": {"type": "string"},
          "customer_id": {"type": "string"},
          "status": {
            "type": "string",
            "description": "(the enum is filled in by openapi.cpp from actors/order/messages.hpp)"
          },
          "reason": {
            "type": "string",
            "description": "Why a rejected or cancelled order ended, e.g. `not enough stock of <sku>`, `unknown_sku: <sku>` (the inventory never stocked it) or the payment's reason."
          },
          "amount_cents": {"type": "integer"},
          "lines": {"type": "array", "items": {"$ref": "#/components/schemas/Line"}},
          "placed_at": {"type": "string", "format": "date-time"},
          "updated_at": {"type": "string", "format": "date-time"},
          "version": {"type": "integer"}
        }
      },
      "OrderPage": {
        "type": "object",
        "properties": {
          "orders": {"type": "array", "items": {"$ref": "#/components/schemas/Order"}},
          "next_cursor": {"type": "string", "nullable": true},
          "next": {"type": "string", "nullable": true}
        }
      },
      "Inventory": {
        "type": "object",
        "properties": {
          "sku": {"type": "string"},
          "on_hand": {"type": "integer"},
          "reserved": {"type": "integer"},
          "available": {"type": "integer"},
          "version": {"type": "integer"}
        }
      },
      "Health": {
        "type": "object",
        "properties": {
          "status": {"type": "string", "enum": ["ready", "not_ready"]},
          "checks": {"type": "object"},
          "projection_lag": {"type": "integer"},
          "degraded": {"type": "array", "items": {"type": "string"}}
        }
      }
    },
    "securitySchemes": {
      "BearerKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "Authorization: Bearer <API key>. Keys are configured hashed (gateway.api_keys), each naming a client. Without a key the client is the peer address."
      },
      "HeaderKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key", "description": "The same API key in its own header."}
    }
  },
  "servers": [
    {"url": "/", "description": "The gateway that serves this document (by default http://127.0.0.1:58000)."}
  ],
  "security": [{"BearerKey": []}, {"HeaderKey": []}, {}]
})json");
    auto& token = doc["components"]["schemas"]["OrderInput"]["properties"]["payment"]["properties"]
                     ["card_token"];
    token["description"] = card_token_description();
    // The status names of orders, from their one list; `none` is never shown to a client.
    auto& statuses = doc["components"]["schemas"]["Order"]["properties"]["status"]["enum"];
    statuses = nlohmann::json::array();
    for (const auto& [status, name] : actors::order::order_status_names) {
      if (status != actors::order::order_status::none) {
        statuses.push_back(std::string{name});
      }
    }
    token["pattern"] = "^" + std::string{psp::card_token_prefix};
    return doc.dump(2);
  }();
  return doc;
}

} // namespace ordermesh::gateway
