// Reads one row of gdpr.subject_key by key id with a direct lookup in its
// primary key index (no SPI, no planner): the key-cache miss of a decrypt.
// Like the SPI query it replaces, it sees every committed change (the
// latest snapshot), except in a parallel query, where it uses the query's
// snapshot (a parallel worker may not take a new one).
#pragma once

#ifndef POSTGRES_H
#error "include postgres.h (inside extern \"C\") before key_row_reader.h"
#endif

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gdpr {

struct KeyRow {
  std::vector<std::uint8_t> subject_address;
  std::string key_class;
  std::optional<std::uint32_t> kek_version;
  std::optional<std::vector<std::uint8_t>> wrapped_key;  // none once shredded
};

// The row of key_id in key_table (the oid of gdpr.subject_key), or none.
std::optional<KeyRow> read_key_row(Oid key_table, std::uint64_t key_id);

}  // namespace gdpr
