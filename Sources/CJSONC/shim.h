#include <json-c/json.h>
#include <json-c/json_object_iterator.h>
