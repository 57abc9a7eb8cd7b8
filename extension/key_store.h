// Per-backend access to the subjects' data keys: finds or creates a
// subject's key, unwraps keys by id for decryption, caches them, re-wraps
// them, backs them up and restores them. Keys live in gdpr.subject_key,
// addressed by a keyed hash of the subject and wrapped by the master key;
// this module reads that table as the extension's owner, so callers need no
// privilege on it. It also holds the installation's derived hash keys.
#pragma once

#ifdef POSTGRES_H
#error "key_store.h is plain C++; include it before the PostgreSQL headers"
#endif

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <memory>
#include <string>
#include <vector>

#include "aes_gcm_key.h"
#include "data_key_wrap.h"
#include "installation_keys.h"
#include "key_cache.h"
#include "master_key_ring.h"
#include "value_cipher.h"

namespace gdpr {

struct SubjectKey {
  std::uint64_t key_id;
  AesGcmKey* key;
};

class KeyStore {
 public:
  // The main key class; a later class (e.g. for data under a legal hold)
  // may outlive it.
  static constexpr const char* kMainKeyClass = "main";

  static KeyStore& instance();

  // The subject's key of this class, created on first use. Throws if the
  // subject's key was shredded.
  SubjectKey for_subject(const char* kind, std::size_t kind_size, const char* subject_id,
                         std::size_t subject_id_size, const char* key_class);

  // The key with this id, or null if it was shredded. Throws if unknown.
  AesGcmKey* by_id(std::uint64_t key_id);

  // Re-wraps up to max_keys data keys (all if max_keys < 0) under the newest
  // master key version; returns how many.
  std::int64_t rotate_master_key(std::int64_t max_keys);

  // Versions present in the configured key source, oldest first.
  std::vector<std::uint32_t> master_key_versions();

  // The subject's address in gdpr.subject_key; the id is made canonical.
  Digest key_address(const char* kind, std::size_t kind_size, const char* subject_id,
                     std::size_t subject_id_size);
  // The subject hash of tombstones, requests and the audit log; the id is
  // taken as given (callers pass the canonical id).
  Digest subject_hash(const char* kind, std::size_t kind_size, const char* subject_id,
                      std::size_t subject_id_size);

  // Just before the commit of a transaction that created keys: refuses the
  // commit (40001) if one of their subjects had its keys shredded by a
  // transaction that committed meanwhile.
  void check_new_keys();

  // gdpr_key_backup() and gdpr_restore_key_backup() (see key_backup_format.h).
  std::vector<std::uint8_t> write_backup();
  std::int64_t restore_backup(const std::uint8_t* data, std::size_t size);

  ValueCipher& cipher() noexcept { return cipher_; }

  // Called when gdpr.subject_key rows were updated or deleted in this
  // transaction: the local cache may hold keys that are gone.
  void forget_cached_keys() noexcept {
    cache_.clear();
    installation_.reset();
  }
  // The transaction ended: no key of it is left to check at commit.
  void forget_created_keys() noexcept { created_in_xact_.clear(); }

 private:
  KeyStore();

  void sync_with_server();
  const MasterKeyRing& ring();
  void reload_ring();
  // This database's installation (made on first use) and its hash keys.
  std::shared_ptr<const InstallationKeys> installation();
  const SecureBytes& master_key(std::uint32_t version, std::uint64_t key_id);
  std::unique_ptr<AesGcmKey> unwrap(const KeyBinding& binding, std::uint32_t version,
                                    const std::string& wrapped_hex);
  // The id as the kind's root id column writes it ('050' is user 50), read
  // with that type's input and output functions as the caller; ids of kinds
  // not in the data map are returned as given.
  std::string canonical_id(const std::string& kind, const char* id, std::size_t id_size);

  KeyCache cache_;
  ValueCipher cipher_;
  std::unique_ptr<MasterKeyRing> ring_;
  std::shared_ptr<const InstallationKeys> installation_;
  std::uint64_t seen_key_epoch_ = 0;
  std::uint64_t seen_ring_epoch_ = 0;
  std::string subject_scratch_;
  // (address in hex, key class) of the keys this transaction created
  std::vector<std::pair<std::string, std::string>> created_in_xact_;
  // kind -> type of its root id column (0: not registered); reloaded when
  // gdpr.subject_kind changes (a relcache invalidation, see below).
  std::unordered_map<std::string, unsigned int> kind_types_;
  bool kind_types_loaded_ = false;
};

// Transaction bookkeeping, driven by the transaction callbacks.
namespace key_events {
void keys_created() noexcept;        // a key row was inserted in this transaction
bool commit_check_pending() noexcept;  // keys were created: before_commit() has work
void before_commit();                // may throw: see KeyStore::check_new_keys
void keys_changed() noexcept;        // key rows were shredded or deleted
void master_key_rotated() noexcept;  // key rows were re-wrapped
bool shred_pending() noexcept;       // a commit would have to tell other sessions
void at_commit() noexcept;
void at_subtransaction_abort() noexcept;
void at_abort() noexcept;
// A relcache invalidation arrived for relid (InvalidOid: all relations).
// Shreds and DROP EXTENSION send one for gdpr.subject_key at commit; it is
// WAL-logged, so sessions on hot standbys hear it when the commit replays.
void relation_invalidated(unsigned int relid) noexcept;
}  // namespace key_events

}  // namespace gdpr
