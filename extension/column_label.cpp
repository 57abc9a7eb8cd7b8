// Written without C++ objects: the hook runs inside PostgreSQL's DDL code
// and reports errors with ereport directly.
#include <cstring>

extern "C" {
#include "postgres.h"

#include "access/transam.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "commands/seclabel.h"
#include "utils/elog.h"
}

#include "column_label.h"

namespace gdpr {
namespace column_label {
namespace {

const char* const kCategories[] = {"personal", "usage", "customer", "technical", "sensitive"};
constexpr const char* kCategoryList = "personal, usage, customer, technical, sensitive";

bool is_category(const char* word, std::size_t size) {
  for (const char* category : kCategories) {
    if (std::strlen(category) == size && std::strncmp(category, word, size) == 0) return true;
  }
  return false;
}

void check_label(const ObjectAddress* object, const char* label) {
  if (label == nullptr) return;  // removing a label is always allowed
  if (object->classId != RelationRelationId || object->objectSubId == 0) {
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("pg_gdpr labels apply to table columns only"),
                    errhint("Use SECURITY LABEL FOR pg_gdpr ON COLUMN table.column IS "
                            "'<category>'.")));
  }
  // System catalogs hold no subject's data; labelling one would only let
  // pg_gdpr's rights functions near it.
  if (object->objectId < FirstNormalObjectId) {
    ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                    errmsg("pg_gdpr labels cannot be put on system catalogs"),
                    errhint("Label the columns of your application's tables.")));
  }
  const char* end = std::strchr(label, ' ');
  const std::size_t category_size = end ? static_cast<std::size_t>(end - label) : std::strlen(label);
  if (!is_category(label, category_size)) {
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("invalid pg_gdpr label \"%s\"", label),
                    errdetail("The label must start with a data category: %s.", kCategoryList),
                    errhint("For example 'personal', or 'personal encrypted:crm.users.email' "
                            "for a column holding gdpr_encrypt() output.")));
  }
  if (end == nullptr) return;
  const char* rest = end + 1;
  const bool encrypted = std::strcmp(rest, "encrypted") == 0 ||
                         (std::strncmp(rest, "encrypted:", 10) == 0 && rest[10] != '\0' &&
                          std::strchr(rest + 10, ' ') == nullptr);
  if (!encrypted) {
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("invalid pg_gdpr label \"%s\"", label),
                    errdetail("After the category only \"encrypted\" or "
                              "\"encrypted:<context>\" may follow."),
                    errhint("For example 'personal encrypted:crm.users.email'.")));
  }
}

}  // namespace

void register_provider() { register_label_provider("pg_gdpr", check_label); }

}  // namespace column_label
}  // namespace gdpr
