"""Tables and the pure domain rules that belong to them. Imports no other package of ours.

One module per domain (`place`, `person`, `party`, `task`, `meeting`, `volunteer`, `disclosure`,
`dispute`, `vote`, `apiclient`); code imports a table from its domain's module. Importing this
package imports every module, so that `SQLModel.metadata` knows every table (migrations and their
test rely on it) without a list here to keep in step.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
