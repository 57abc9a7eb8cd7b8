#include "key_store.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "data_key_wrap.h"
#include "gdpr_error.h"
#include "key_backup_format.h"
#include "settings.h"
#include "shared_state.h"

extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

#include "key_row_reader.h"
#include "pg_boundary.h"
#include "spi_query.h"

namespace gdpr {
namespace {

// Every name and operator is schema-qualified: these run as the extension
// owner whatever the caller's search_path.
// An index lookup on (subject_address, key_class): bytea, and text of the
// column's own collation. A shredded row comes first: the subject is erased.
pg::SpiStatement select_by_subject{
    "SELECT key_id::pg_catalog.text, kek_version::pg_catalog.text,"
    " pg_catalog.encode(wrapped_key, 'hex')"
    " FROM gdpr.subject_key WHERE subject_address OPERATOR(pg_catalog.=)"
    " pg_catalog.decode($1, 'hex') AND key_class OPERATOR(pg_catalog.=) $2::pg_catalog.text"
    " ORDER BY shredded_at IS NULL, key_id LIMIT 1",
    2};
pg::SpiStatement kind_types{
    "SELECT k.kind, a.atttypid::pg_catalog.text FROM gdpr.subject_kind k"
    " JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) k.root_table"
    " AND a.attname OPERATOR(pg_catalog.=) k.id_column",
    0};
pg::SpiStatement next_key_id{
    "SELECT pg_catalog.nextval('gdpr.subject_key_key_id_seq'::pg_catalog.regclass)"
    "::pg_catalog.text",
    0};
pg::SpiStatement insert_key{
    "INSERT INTO gdpr.subject_key"
    " (key_id, subject_address, key_class, kek_version, wrapped_key)"
    " VALUES ($1::pg_catalog.int8, pg_catalog.decode($2, 'hex'), $3, $4::pg_catalog.int4,"
    " pg_catalog.decode($5, 'hex'))"
    " RETURNING key_id",
    5};
pg::SpiStatement lock_new_addresses{
    "SELECT gdpr._lock_new_key_addresses($1::pg_catalog.text[])", 1};
pg::SpiStatement shredded_meanwhile{
    "SELECT 1 FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[])) u(a, c)"
    " JOIN gdpr.subject_key k ON k.subject_address OPERATOR(pg_catalog.=) pg_catalog.decode(u.a, 'hex')"
    " AND k.key_class OPERATOR(pg_catalog.=) u.c"
    " WHERE k.shredded_at IS NOT NULL LIMIT 1",
    2};
pg::SpiStatement select_to_rewrap{
    "SELECT key_id::pg_catalog.text, kek_version::pg_catalog.text,"
    " pg_catalog.encode(wrapped_key, 'hex'), pg_catalog.encode(subject_address, 'hex'), key_class"
    " FROM gdpr.subject_key WHERE wrapped_key IS NOT NULL"
    " AND kek_version OPERATOR(pg_catalog.<>) $1::pg_catalog.int4"
    " ORDER BY key_id LIMIT $2::pg_catalog.int8 FOR UPDATE",
    2};
pg::SpiStatement update_wrapped{
    "UPDATE gdpr.subject_key SET kek_version = $2::pg_catalog.int4,"
    " wrapped_key = pg_catalog.decode($3, 'hex')"
    " WHERE key_id OPERATOR(pg_catalog.=) $1::pg_catalog.int8",
    3};
pg::SpiStatement select_installation{
    "SELECT pg_catalog.encode(installation_id, 'hex'), root_kek_version::pg_catalog.text,"
    " pg_catalog.encode(wrapped_root, 'hex') FROM gdpr.installation",
    0};
pg::SpiStatement insert_installation{
    "INSERT INTO gdpr.installation (installation_id, root_kek_version, wrapped_root)"
    " VALUES (pg_catalog.decode($1, 'hex'), $2::pg_catalog.int4, pg_catalog.decode($3, 'hex'))"
    " ON CONFLICT DO NOTHING",
    3};
pg::SpiStatement rewrap_installation{
    "UPDATE gdpr.installation SET root_kek_version = $1::pg_catalog.int4,"
    " wrapped_root = pg_catalog.decode($2, 'hex')"
    " WHERE root_kek_version OPERATOR(pg_catalog.<>) $1::pg_catalog.int4",
    2};
pg::SpiStatement select_all_keys{
    "SELECT key_id::pg_catalog.text, pg_catalog.encode(subject_address, 'hex'), key_class,"
    " kek_version::pg_catalog.text, pg_catalog.encode(wrapped_key, 'hex'),"
    " created_at::pg_catalog.text, shredded_at::pg_catalog.text"
    " FROM gdpr.subject_key ORDER BY key_id",
    0};
pg::SpiStatement last_key_id{
    "SELECT last_value::pg_catalog.text FROM gdpr.subject_key_key_id_seq", 0};
// A restored row never replaces one the database has (a shredded key stays
// shredded); a key whose subject and class have a shredded row, and the
// main key of a subject with a tombstone, come back shredded.
pg::SpiStatement restore_key{
    "INSERT INTO gdpr.subject_key AS k"
    " (key_id, subject_address, key_class, kek_version, wrapped_key, created_at, shredded_at)"
    " SELECT $1::pg_catalog.int8, r.address, $3,"
    "  CASE WHEN r.erased THEN NULL ELSE $4::pg_catalog.int4 END,"
    "  CASE WHEN r.erased THEN NULL ELSE pg_catalog.decode($5, 'hex') END,"
    "  $6::pg_catalog.timestamptz,"
    "  CASE WHEN r.erased THEN COALESCE($7::pg_catalog.timestamptz, pg_catalog.now())"
    "  ELSE $7::pg_catalog.timestamptz END"
    " FROM (SELECT pg_catalog.decode($2, 'hex') AS address,"
    "  EXISTS (SELECT 1 FROM gdpr.subject_key o WHERE o.subject_address OPERATOR(pg_catalog.=)"
    "   pg_catalog.decode($2, 'hex') AND o.key_class OPERATOR(pg_catalog.=) $3"
    "   AND o.shredded_at IS NOT NULL)"
    "  OR $3 OPERATOR(pg_catalog.=) 'main' AND EXISTS (SELECT 1 FROM gdpr.tombstone t"
    "   WHERE t.key_address OPERATOR(pg_catalog.=) pg_catalog.decode($2, 'hex')) AS erased) r"
    " ON CONFLICT DO NOTHING RETURNING (k.wrapped_key IS NOT NULL)::pg_catalog.text",
    7};
pg::SpiStatement advance_key_ids{
    "SELECT pg_catalog.setval('gdpr.subject_key_key_id_seq'::pg_catalog.regclass,"
    " GREATEST($1::pg_catalog.int8, (SELECT last_value FROM gdpr.subject_key_key_id_seq),"
    " (SELECT pg_catalog.max(key_id) FROM gdpr.subject_key), 1))::pg_catalog.text",
    1};

constexpr std::int64_t kRotationBatch = 1000;

// Transaction state for the callbacks; plain flags only.
bool g_created_in_xact = false;
bool g_shred_in_xact = false;
bool g_rotated_in_xact = false;

KeyStore* g_store = nullptr;

// The key table this session read keys from, and whether an invalidation
// for it arrived since: set from a relcache callback, so plain data only.
Oid g_key_table = InvalidOid;
bool g_key_table_invalidated = false;
// The same for gdpr.subject_kind, whose changes a statement trigger
// announces: the kinds' id types are read again.
Oid g_kind_table = InvalidOid;
bool g_kind_table_invalidated = false;

Oid key_table_owner() {
  return pg::guarded([]() -> Oid {
    Oid schema = get_namespace_oid("gdpr", true);
    Oid table = OidIsValid(schema) ? get_relname_relid("subject_key", schema) : InvalidOid;
    g_key_table = table;
    if (!OidIsValid(table)) return InvalidOid;
    HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(table));
    if (!HeapTupleIsValid(tuple)) return InvalidOid;
    Oid owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple))->relowner;
    ReleaseSysCache(tuple);
    return owner;
  });
}

// Runs the key queries as the owner of gdpr.subject_key, in a restricted
// security context, and switches back on the way out (the abort of the
// transaction switches back too if an error escapes).
class AsKeyTableOwner {
 public:
  AsKeyTableOwner() {
    Oid owner = key_table_owner();
    if (!OidIsValid(owner)) {
      throw GdprError(sqlstate::kObjectNotInPrerequisiteState,
                      "extension pg_gdpr is not installed in this database", {},
                      "Run CREATE EXTENSION pg_gdpr.");
    }
    GetUserIdAndSecContext(&saved_user_, &saved_context_);
    SetUserIdAndSecContext(owner, saved_context_ | SECURITY_LOCAL_USERID_CHANGE |
                                      SECURITY_RESTRICTED_OPERATION);
  }
  ~AsKeyTableOwner() { SetUserIdAndSecContext(saved_user_, saved_context_); }
  AsKeyTableOwner(const AsKeyTableOwner&) = delete;
  AsKeyTableOwner& operator=(const AsKeyTableOwner&) = delete;

 private:
  Oid saved_user_ = InvalidOid;
  int saved_context_ = 0;
};

std::uint64_t parse_u64(const pg::SqlText& text) {
  if (!text) throw GdprError(sqlstate::kInternalError, "unexpected NULL in gdpr.subject_key");
  return std::stoull(*text);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Decodes the output of encode(..., 'hex'); anything else is a corrupt row.
std::vector<std::uint8_t> from_hex(const std::string& hex) {
  std::vector<std::uint8_t> bytes(hex.size() / 2);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const int hi = hex_digit(hex[2 * i]);
    const int lo = hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0 || hex.size() % 2 != 0) {
      throw GdprError(sqlstate::kInternalError, "malformed wrapped key in gdpr.subject_key");
    }
    bytes[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return bytes;
}

std::string to_hex(const std::vector<std::uint8_t>& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (auto b : bytes) {
    hex.push_back(digits[b >> 4]);
    hex.push_back(digits[b & 15]);
  }
  return hex;
}

// The installation's root secret is wrapped like a data key, as key id 0
// (data key ids start at 1) of its own class.
KeyBinding root_binding(const std::vector<std::uint8_t>& installation_id) {
  return KeyBinding{0, "installation root", {}, installation_id};
}

// Messages name the kind only: an erased subject's id must not reach the
// client or the server log through an error.
// A text[] literal: every element double-quoted, quotes and backslashes
// escaped.
std::string text_array_literal(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::string subject_label(const std::string& kind) { return "a subject of kind \"" + kind + "\""; }

}  // namespace

KeyStore::KeyStore() : cache_(static_cast<std::size_t>(settings::key_cache_size)) {}

KeyStore& KeyStore::instance() {
  if (g_store == nullptr) g_store = new KeyStore();  // lives as long as the backend
  return *g_store;
}

void KeyStore::sync_with_server() {
  if (!shared::available()) {
    throw GdprError(sqlstate::kObjectNotInPrerequisiteState,
                    "pg_gdpr must be loaded via shared_preload_libraries",
                    "Sessions share the news of shredded keys through shared memory.",
                    "Add pg_gdpr to shared_preload_libraries in postgresql.conf and restart "
                    "the server.");
  }
  if (g_kind_table_invalidated) {
    g_kind_table_invalidated = false;
    kind_types_loaded_ = false;
  }
  if (g_key_table_invalidated) {
    // A shred committed (here, on the primary, or replayed on this standby),
    // or the key table was dropped and created anew: no cached key stays.
    g_key_table_invalidated = false;
    forget_cached_keys();
  }
  const std::uint64_t key_epoch = shared::key_epoch();
  if (key_epoch != seen_key_epoch_) {
    cache_.clear();
    seen_key_epoch_ = key_epoch;
  }
  const std::uint64_t ring_epoch = shared::ring_epoch();
  if (ring_epoch != seen_ring_epoch_ || settings::key_source_changed) {
    ring_.reset();
    installation_.reset();
    seen_ring_epoch_ = ring_epoch;
    settings::key_source_changed = false;
  }
  if (cache_.capacity() != static_cast<std::size_t>(settings::key_cache_size)) {
    cache_.set_capacity(static_cast<std::size_t>(settings::key_cache_size));
  }
}

void KeyStore::reload_ring() {
  const std::string file = settings::master_key_file ? settings::master_key_file : "";
  const std::string command = settings::master_key_command ? settings::master_key_command : "";
  ring_.reset();
  if (!file.empty() && !command.empty()) {
    throw GdprError(sqlstate::kConfigFileError,
                    "both pg_gdpr.master_key_file and pg_gdpr.master_key_command are set", {},
                    "Set only one of them in postgresql.conf and reload.");
  }
  if (file.empty() && command.empty()) {
    throw GdprError(sqlstate::kConfigFileError, "no pg_gdpr master key is configured",
                    "Data keys are stored wrapped by a master key that comes from outside "
                    "the database.",
                    "Set pg_gdpr.master_key_file (or pg_gdpr.master_key_command) in "
                    "postgresql.conf and reload the server configuration.");
  }
  ring_ = std::make_unique<MasterKeyRing>(file.empty() ? MasterKeyRing::from_command(command)
                                                       : MasterKeyRing::from_file(file));
}

const MasterKeyRing& KeyStore::ring() {
  if (!ring_) reload_ring();
  return *ring_;
}

const SecureBytes& KeyStore::master_key(std::uint32_t version, std::uint64_t key_id) {
  const SecureBytes* master = ring().find(version);
  if (master == nullptr) {
    // The key source may have gained this version since it was read.
    reload_ring();
    master = ring().find(version);
  }
  if (master == nullptr) {
    throw GdprError(sqlstate::kConfigFileError,
                    "master key version " + std::to_string(version) +
                        " is not in the configured key source",
                    key_id == 0 ? "This database's hash root secret is wrapped by that version."
                                : "Data key " + std::to_string(key_id) + " is wrapped by that version.",
                    "Add the version back to the key source; gdpr_master_key_status() shows the "
                    "versions each database still needs.");
  }
  return *master;
}

std::shared_ptr<const InstallationKeys> KeyStore::installation() {
  if (installation_) return installation_;
  AsKeyTableOwner as_owner;
  auto rows = pg::spi_run(select_installation, {}, pg::SnapshotMode::kLatest);
  if (rows.empty()) {
    // First use in this database: a random id and root secret, the root
    // wrapped by the newest master key. Dropped again if this transaction
    // aborts (key_events).
    std::vector<std::uint8_t> id(InstallationKeys::kIdSize);
    SecureBytes random = DataKeyWrap::generate_data_key();
    std::copy(random.data(), random.data() + id.size(), id.begin());
    const std::uint32_t version = ring().newest_version();
    const auto wrapped = DataKeyWrap::wrap(*ring().find(version), root_binding(id),
                                           DataKeyWrap::generate_data_key());
    pg::spi_run(insert_installation, {to_hex(id), std::to_string(version), to_hex(wrapped)},
                pg::SnapshotMode::kLatest);
    key_events::keys_created();
    rows = pg::spi_run(select_installation, {}, pg::SnapshotMode::kLatest);
  }
  if (rows.empty() || !rows.front()[0] || !rows.front()[2]) {
    throw GdprError(sqlstate::kInternalError, "gdpr.installation has no row");
  }
  auto id = from_hex(*rows.front()[0]);
  const auto version = static_cast<std::uint32_t>(parse_u64(rows.front()[1]));
  const auto wrapped = from_hex(*rows.front()[2]);
  const SecureBytes root = DataKeyWrap::unwrap(master_key(version, 0), version, root_binding(id),
                                               wrapped.data(), wrapped.size());
  installation_ = std::make_shared<const InstallationKeys>(root, std::move(id));
  return installation_;
}

std::unique_ptr<AesGcmKey> KeyStore::unwrap(const KeyBinding& binding, std::uint32_t version,
                                            const std::string& wrapped_hex) {
  const SecureBytes& master = master_key(version, binding.key_id);
  auto wrapped = from_hex(wrapped_hex);
  SecureBytes plain =
      DataKeyWrap::unwrap(master, version, binding, wrapped.data(), wrapped.size());
  return std::make_unique<AesGcmKey>(plain);
}

AesGcmKey* KeyStore::by_id(std::uint64_t key_id) {
  sync_with_server();
  if (CachedKey* hit = cache_.find(key_id)) return hit->key.get();

  auto inst = installation();
  AsKeyTableOwner as_owner;
  // A direct lookup in the primary key index, with the latest snapshot, not
  // the transaction's: a shred committed by another session must win even
  // inside an older REPEATABLE READ transaction.
  const std::optional<KeyRow> row = read_key_row(g_key_table, key_id);
  if (!row) {
    throw GdprError(sqlstate::kUndefinedObject,
                    "data key " + std::to_string(key_id) + " does not exist",
                    "The ciphertext names a key that is not in gdpr.subject_key.",
                    "Was the ciphertext copied from another database, or the database "
                    "restored without its keys? Restore them with gdpr_restore_key_backup().");
  }
  // An empty kind never comes from gdpr_encrypt: this entry is found by id only.
  std::string subject = KeyCache::subject_key("", to_hex(row->subject_address), row->key_class);
  if (!row->wrapped_key || !row->kek_version) {
    return cache_.insert(key_id, std::move(subject), nullptr).key.get();
  }
  KeyBinding binding{key_id, row->key_class, row->subject_address, inst->installation_id()};
  const std::uint32_t version = *row->kek_version;
  SecureBytes plain = DataKeyWrap::unwrap(master_key(version, key_id), version, binding,
                                          row->wrapped_key->data(), row->wrapped_key->size());
  return cache_.insert(key_id, std::move(subject), std::make_unique<AesGcmKey>(plain)).key.get();
}

std::string KeyStore::canonical_id(const std::string& kind, const char* id, std::size_t id_size) {
  if (!kind_types_loaded_) {
    std::unordered_map<std::string, unsigned int> loaded;
    {
      AsKeyTableOwner as_owner;
      for (const auto& row : pg::spi_run(kind_types, {}, pg::SnapshotMode::kTransaction)) {
        if (row[0] && row[1]) loaded.emplace(*row[0], static_cast<unsigned int>(std::stoul(*row[1])));
      }
    }
    g_kind_table = pg::guarded([]() -> Oid {
      Oid schema = get_namespace_oid("gdpr", true);
      return OidIsValid(schema) ? get_relname_relid("subject_kind", schema) : InvalidOid;
    });
    kind_types_ = std::move(loaded);
    kind_types_loaded_ = true;
  }
  const auto found = kind_types_.find(kind);
  if (found == kind_types_.end()) return std::string(id, id_size);
  const Oid type = found->second;
  // Through the base type of a domain: its input and output functions are
  // built-in or a superuser's C code, while a domain's checks could be
  // anyone's code, and this also runs inside pg_gdpr's own erase.
  const std::string raw(id, id_size);
  char* canonical = pg::guarded([type, &raw]() -> char* {
    Oid input, ioparam, output;
    bool varlena;
    const Oid base = getBaseType(type);
    getTypeInputInfo(base, &input, &ioparam);
    getTypeOutputInfo(base, &output, &varlena);
    Datum value = OidInputFunctionCall(input, const_cast<char*>(raw.c_str()), ioparam, -1);
    return OidOutputFunctionCall(output, value);
  });
  std::string result(canonical);
  pg::guarded([canonical] { pfree(canonical); });
  return result;
}

Digest KeyStore::key_address(const char* kind, std::size_t kind_size, const char* subject_id,
                             std::size_t subject_id_size) {
  sync_with_server();
  const std::string id = canonical_id(std::string(kind, kind_size), subject_id, subject_id_size);
  return installation()->key_address(kind, kind_size, id.data(), id.size());
}

Digest KeyStore::subject_hash(const char* kind, std::size_t kind_size, const char* subject_id,
                              std::size_t subject_id_size) {
  sync_with_server();
  return installation()->subject_hash(kind, kind_size, subject_id, subject_id_size);
}

SubjectKey KeyStore::for_subject(const char* kind, std::size_t kind_size,
                                 const char* subject_id, std::size_t subject_id_size,
                                 const char* key_class) {
  sync_with_server();
  subject_scratch_.assign(kind, kind_size).push_back('\0');
  subject_scratch_.append(subject_id, subject_id_size).push_back('\0');
  subject_scratch_.append(key_class);
  CachedKey* hit = cache_.find_subject(subject_scratch_);

  if (hit == nullptr) {
    const std::string kind_s(kind, kind_size);
    // Only on a cache miss: the per-value path never pays for it.
    const std::string id_s = canonical_id(kind_s, subject_id, subject_id_size);
    auto inst = installation();
    const Digest address = inst->key_address(kind, kind_size, id_s.data(), id_s.size());
    const std::string address_hex = to_hex(address);
    AsKeyTableOwner as_owner;
    auto rows = pg::spi_run(select_by_subject, {address_hex, std::string(key_class)},
                            pg::SnapshotMode::kLatest);
    if (rows.empty()) {
      const MasterKeyRing& masters = ring();
      const std::uint32_t version = masters.newest_version();
      auto ids = pg::spi_run(next_key_id, {}, pg::SnapshotMode::kTransaction);
      const std::uint64_t key_id = parse_u64(ids.front()[0]);
      SecureBytes data_key = DataKeyWrap::generate_data_key();
      KeyBinding binding{key_id, key_class, address, inst->installation_id()};
      auto wrapped = DataKeyWrap::wrap(*masters.find(version), binding, data_key);
      auto inserted = pg::spi_run(
          insert_key,
          {std::to_string(key_id), address_hex, std::string(key_class), std::to_string(version),
           to_hex(wrapped)},
          pg::SnapshotMode::kLatest);
      // No wait on another transaction's first use of this subject: the
      // key table has no unique index on the address (see 10_data_keys.sql).
      if (inserted.empty()) {
        throw GdprError(sqlstate::kInternalError,
                        "data key of " + subject_label(kind_s) + " was not stored");
      }
      key_events::keys_created();
      created_in_xact_.emplace_back(address_hex, key_class);
      hit = &cache_.insert(key_id, subject_scratch_, std::make_unique<AesGcmKey>(data_key));
    }
    if (hit == nullptr) {
      if (rows.empty()) {
        throw GdprError(sqlstate::kInternalError,
                        "data key of " + subject_label(kind_s) +
                            " vanished while it was being created");
      }
      const auto& row = rows.front();
      const std::uint64_t key_id = parse_u64(row[0]);
      std::unique_ptr<AesGcmKey> key;
      if (row[2]) {
        KeyBinding binding{key_id, key_class, address, inst->installation_id()};
        key = unwrap(binding, static_cast<std::uint32_t>(parse_u64(row[1])), *row[2]);
      }
      hit = &cache_.insert(key_id, subject_scratch_, std::move(key));
    }
  }
  if (hit->shredded()) {
    throw GdprError(sqlstate::kObjectNotInPrerequisiteState,
                    "data key of " + subject_label(std::string(kind, kind_size)) +
                        " was shredded",
                    "The subject was erased; no new data can be encrypted for it.",
                    "Do not store data of an erased subject.");
  }
  return SubjectKey{hit->key_id, hit->key.get()};
}

void KeyStore::check_new_keys() {
  if (created_in_xact_.empty()) return;
  auto created = std::move(created_in_xact_);
  created_in_xact_.clear();
  // One lock statement and one check for all of the transaction's new
  // keys: a bulk load commits in two statements, not two per subject.
  std::vector<std::string> addresses, classes;
  for (auto& [address_hex, key_class] : created) {
    addresses.push_back(std::move(address_hex));
    classes.push_back(std::move(key_class));
  }
  const std::string address_array = text_array_literal(addresses);
  AsKeyTableOwner as_owner;
  pg::spi_run(lock_new_addresses, {address_array}, pg::SnapshotMode::kTransaction);
  if (!pg::spi_run(shredded_meanwhile, {address_array, text_array_literal(classes)},
                   pg::SnapshotMode::kLatest)
           .empty()) {
    throw GdprError("40001",
                    "could not serialize access due to a shred of the subject's keys",
                    "Another transaction erased the subject, or shredded its keys, and committed "
                    "while this one created a data key for it; this transaction's data for the "
                    "subject cannot be kept.",
                    "Retry the transaction; data of an erased subject must not be stored again.");
  }
}

std::int64_t KeyStore::rotate_master_key(std::int64_t max_keys) {
  sync_with_server();
  reload_ring();  // rotation always uses the key source as it is now
  auto inst = installation();
  const MasterKeyRing& masters = ring();
  const std::uint32_t newest = masters.newest_version();
  const SecureBytes& newest_key = *masters.find(newest);

  AsKeyTableOwner as_owner;
  std::int64_t done = 0;
  while (max_keys < 0 || done < max_keys) {
    std::int64_t batch = kRotationBatch;
    if (max_keys >= 0 && max_keys - done < batch) batch = max_keys - done;
    auto rows = pg::spi_run(select_to_rewrap, {std::to_string(newest), std::to_string(batch)},
                            pg::SnapshotMode::kLatest);
    if (rows.empty()) break;
    for (const auto& row : rows) {
      const std::uint64_t key_id = parse_u64(row[0]);
      const auto version = static_cast<std::uint32_t>(parse_u64(row[1]));
      const SecureBytes* old_master = masters.find(version);
      if (old_master == nullptr) {
        throw GdprError(sqlstate::kConfigFileError,
                        "master key version " + std::to_string(version) +
                            " is not in the configured key source",
                        "Data key " + std::to_string(key_id) + " is wrapped by that version.",
                        "Keep every old version in the key source until the rotation is "
                        "complete.");
      }
      // The same binding: rotation changes the master key, nothing else.
      KeyBinding binding{key_id, *row[4], from_hex(*row[3]), inst->installation_id()};
      auto wrapped = from_hex(*row[2]);
      SecureBytes plain =
          DataKeyWrap::unwrap(*old_master, version, binding, wrapped.data(), wrapped.size());
      pg::spi_run(update_wrapped,
                  {std::to_string(key_id), std::to_string(newest),
                   to_hex(DataKeyWrap::wrap(newest_key, binding, plain))},
                  pg::SnapshotMode::kTransaction);
      ++done;
    }
  }
  // The installation's root secret, once: the same secret under the newest
  // version, so every hash stays as it is.
  if (max_keys < 0 || done < max_keys) {
    auto rows = pg::spi_run(select_installation, {}, pg::SnapshotMode::kLatest);
    const auto version = static_cast<std::uint32_t>(parse_u64(rows.front()[1]));
    if (version != newest) {
      const auto wrapped = from_hex(*rows.front()[2]);
      const SecureBytes root =
          DataKeyWrap::unwrap(master_key(version, 0), version, root_binding(inst->installation_id()),
                              wrapped.data(), wrapped.size());
      pg::spi_run(rewrap_installation,
                  {std::to_string(newest),
                   to_hex(DataKeyWrap::wrap(newest_key, root_binding(inst->installation_id()), root))},
                  pg::SnapshotMode::kTransaction);
      ++done;
    }
  }
  key_events::master_key_rotated();
  return done;
}

std::vector<std::uint8_t> KeyStore::write_backup() {
  sync_with_server();
  auto inst = installation();
  AsKeyTableOwner as_owner;
  KeyBackup backup;
  backup.installation_id = inst->installation_id();
  // One snapshot for both: the transaction's.
  backup.last_key_id = parse_u64(pg::spi_run(last_key_id, {}, pg::SnapshotMode::kTransaction)
                                     .front()[0]);
  for (const auto& row : pg::spi_run(select_all_keys, {}, pg::SnapshotMode::kTransaction)) {
    BackedUpKey key;
    key.key_id = parse_u64(row[0]);
    key.subject_address = from_hex(*row[1]);
    key.key_class = *row[2];
    if (row[4]) {
      key.kek_version = static_cast<std::uint32_t>(parse_u64(row[3]));
      key.wrapped = from_hex(*row[4]);
    }
    key.created_at = row[5].value_or("");
    key.shredded_at = row[6].value_or("");
    backup.keys.push_back(std::move(key));
  }
  return encode_key_backup(backup, *inst);
}

std::int64_t KeyStore::restore_backup(const std::uint8_t* data, std::size_t size) {
  sync_with_server();
  const KeyBackupHeader header = peek_key_backup(data, size);
  auto inst = installation();
  if (header.installation_id != inst->installation_id()) {
    throw GdprError(sqlstate::kObjectNotInPrerequisiteState,
                    "key backup belongs to another installation of pg_gdpr",
                    "Its installation id is " + to_hex(header.installation_id) +
                        ", this database's is " + to_hex(inst->installation_id()) +
                        ". Nothing was restored.",
                    "Restore a key backup into the database it was taken from, or into a "
                    "restore of that database's dump (which carries gdpr.installation).");
  }
  const KeyBackup backup = decode_key_backup(data, size, *inst);
  // Every wrapped key must unwrap here, before any row is written.
  for (const auto& key : backup.keys) {
    if (key.shredded()) continue;
    KeyBinding binding{key.key_id, key.key_class, key.subject_address, inst->installation_id()};
    DataKeyWrap::unwrap(master_key(key.kek_version, key.key_id), key.kek_version, binding,
                        key.wrapped.data(), key.wrapped.size());
  }
  AsKeyTableOwner as_owner;
  std::int64_t restored = 0;
  for (const auto& key : backup.keys) {
    auto rows = pg::spi_run(
        restore_key,
        {std::to_string(key.key_id), to_hex(key.subject_address), key.key_class,
         key.shredded() ? pg::SqlText{} : pg::SqlText{std::to_string(key.kek_version)},
         key.shredded() ? pg::SqlText{} : pg::SqlText{to_hex(key.wrapped)},
         key.created_at, key.shredded_at.empty() ? pg::SqlText{} : pg::SqlText{key.shredded_at}},
        pg::SnapshotMode::kLatest);
    if (!rows.empty() && rows.front()[0] && *rows.front()[0] == "true") ++restored;
  }
  pg::spi_run(advance_key_ids, {std::to_string(backup.last_key_id)}, pg::SnapshotMode::kLatest);
  key_events::keys_created();
  return restored;
}

std::vector<std::uint32_t> KeyStore::master_key_versions() {
  sync_with_server();
  reload_ring();
  return ring().versions();
}

namespace key_events {

void keys_created() noexcept { g_created_in_xact = true; }

bool commit_check_pending() noexcept { return g_created_in_xact && g_store != nullptr; }

void before_commit() {
  if (g_created_in_xact && g_store != nullptr) g_store->check_new_keys();
}

void keys_changed() noexcept {
  g_shred_in_xact = true;
  if (g_store != nullptr) g_store->forget_cached_keys();
}

void master_key_rotated() noexcept { g_rotated_in_xact = true; }

bool shred_pending() noexcept { return g_shred_in_xact || g_rotated_in_xact; }

void at_commit() noexcept {
  // Runs after the commit is visible to other sessions, so a session that
  // sees the new epoch and re-reads the key table also sees the shred.
  if (g_shred_in_xact && shared::available()) shared::bump_key_epoch();
  if (g_rotated_in_xact && shared::available()) shared::bump_ring_epoch();
  if (g_store != nullptr) g_store->forget_created_keys();
  g_created_in_xact = g_shred_in_xact = g_rotated_in_xact = false;
}

void at_subtransaction_abort() noexcept {
  if ((g_created_in_xact || g_shred_in_xact) && g_store != nullptr) g_store->forget_cached_keys();
}

void at_abort() noexcept {
  // Keys created by a rolled-back (sub)transaction do not exist: the cache
  // must not hand them out again, or new data would use a key that is lost.
  if ((g_created_in_xact || g_shred_in_xact) && g_store != nullptr) g_store->forget_cached_keys();
  if (g_store != nullptr) g_store->forget_created_keys();
  g_created_in_xact = g_shred_in_xact = g_rotated_in_xact = false;
}

void relation_invalidated(unsigned int relid) noexcept {
  if (relid == InvalidOid || (OidIsValid(g_key_table) && relid == g_key_table)) {
    g_key_table_invalidated = true;
  }
  if (relid == InvalidOid || (OidIsValid(g_kind_table) && relid == g_kind_table)) {
    g_kind_table_invalidated = true;
  }
}

}  // namespace key_events

}  // namespace gdpr
